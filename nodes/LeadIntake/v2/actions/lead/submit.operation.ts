import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { OUTCOME_OUTPUTS } from '../../../outcome';
import { contentKey, type AnswerMode, type SignatureScheme } from '../../../signature';
import { submitLeads, text, type Submission } from '../../../submit';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Submit',
	value: 'submitLead',
	description: 'Sign the lead and send it to the processor; one output per outcome',
	action: 'Submit lead',
} satisfies OperationModule['option'];

export const subtitle = 'Submit lead';

export const outputs = OUTCOME_OUTPUTS;

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Lead',
		name: 'leadInput',
		type: 'options',
		options: [
			{
				name: 'From the Trigger or Webhook Body',
				value: 'trigger',
				description:
					"The incoming item's body (Lead Source Trigger or Webhook node), else the whole item",
			},
			{
				name: 'Custom JSON',
				value: 'custom',
				description: 'A lead written here or by an expression',
			},
		],
		default: 'trigger',
		description: 'Which lead to sign and send',
	},
	{
		displayName: 'Custom Lead',
		name: 'customLead',
		type: 'json',
		default: '{}',
		description: 'The lead as JSON, sent exactly as written here',
		hint: 'Signed byte for byte: the processor sees the same JSON',
		displayOptions: { show: { leadInput: ['custom'] } },
	},
	{
		displayName: 'Answer the Lead Source',
		name: 'respondToSource',
		type: 'boolean',
		default: true,
		description:
			"Whether to answer the webhook's caller with the processor's answer (its HTTP status and JSON) as soon as the processor has answered, so the workflow needs no Respond to Webhook node",
		hint: "The trigger's Respond must be 'By the Lead Intake Node'. Without a webhook call (a test run by hand) there is no one to answer.",
		// new in 2.1: version 2 workflows answer with a Respond to Webhook node
		displayOptions: { show: { '@version': [{ _cnd: { gte: 2.1 } }] } },
	},
	{
		displayName: 'Answer the Source',
		name: 'answerWhen',
		type: 'options',
		options: [
			{
				name: 'When the Lead Is Stored',
				value: 'stored',
				description:
					'HTTP 202 (run_status queued) in milliseconds, once the lead is durably stored; the processor delivers it to the CRM in the background, with its retries',
			},
			{
				name: 'When the CRM Has It',
				value: 'delivered',
				description:
					"HTTP 200 with the CRM's ID (run_status processed); the source waits for the CRM, up to its timeout, and a CRM failure is answered 500 although the lead waits safely in the DLQ",
			},
		],
		default: 'stored',
		description: 'When the processor answers this lead (and so the lead source)',
		hint: 'Answered when stored, the Failed output no longer sees CRM failures: the processor reports delivered, failed, dead and resolved leads to a Lead Outcome Trigger',
		// new in 2.2: versions 2 and 2.1 answer when the CRM has the lead
		displayOptions: { show: { '@version': [{ _cnd: { gte: 2.2 } }] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Correlation ID',
				name: 'correlationId',
				type: 'string',
				default: '',
				description:
					"Ties the processor's log lines and audit events to this execution. Not set: the trigger's correlation ID (the caller's X-Correlation-ID), else one made from the execution ID.",
			},
			{
				displayName: 'Idempotency Key',
				name: 'idempotencyKey',
				type: 'string',
				default: '',
				description:
					"The key that makes a resend a duplicate. Not set: the trigger's key (a Lead Source Trigger's is the source's key in its source's space), else a Webhook item's webhook-ID, Idempotency-Key or X-Idempotency-Key header, else a hash of the lead, so the same lead is never processed twice.",
			},
			{
				displayName: 'Signature Scheme',
				name: 'signatureScheme',
				type: 'options',
				options: [
					{
						name: 'Standard Webhooks (V2)',
						value: 'v2',
						description:
							'Headers webhook-ID, webhook-timestamp and webhook-signature: the signature covers the key',
					},
					{
						name: 'Legacy X-Signature (V1)',
						value: 'legacy',
						description: 'Only for processors that do not know v2 yet: X-Timestamp, X-Signature',
					},
				],
				default: 'v2',
				description: 'How the request to the processor is signed',
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: '',
				description:
					"The source name the processor records. Not set: the Lead Source Trigger's source (from its credential), else n8n.",
			},
		],
	},
]);

/** Where a Webhook node's item carries the source's own key, in order of preference. */
const IDEMPOTENCY_HEADERS = ['webhook-id', 'idempotency-key', 'x-idempotency-key'];

/**
 * The lead from the Lead Source Trigger's item (its body, source, key and correlation id, read in
 * code: no expressions), a Webhook node's item, or the Custom Lead; options override.
 */
function submission(this: IExecuteFunctions, json: IDataObject, itemIndex: number): Submission {
	const options = this.getNodeParameter('options', itemIndex, {}) as {
		idempotencyKey?: string;
		source?: string;
		correlationId?: string;
		signatureScheme?: SignatureScheme;
	};
	let lead: unknown;
	let rawBody: string;
	if (this.getNodeParameter('leadInput', itemIndex, 'trigger') === 'custom') {
		const custom = this.getNodeParameter('customLead', itemIndex, '{}') as unknown;
		if (typeof custom === 'string') {
			lead = parseLead.call(this, custom, itemIndex);
			rawBody = custom;
		} else {
			lead = custom;
			rawBody = JSON.stringify(custom);
		}
	} else {
		lead = 'body' in json ? json.body : json;
		rawBody = JSON.stringify(lead ?? null);
	}
	const headers = (json.headers ?? {}) as IDataObject;
	const headerKey = IDEMPOTENCY_HEADERS.map((name) => headers[name]).find(
		(value) => typeof value === 'string' && value.trim() !== '',
	) as string | undefined;
	return {
		lead,
		rawBody,
		idempotencyKey:
			text(options.idempotencyKey) ??
			text(json.idempotency_key) ??
			text(headerKey) ??
			contentKey(rawBody),
		source: text(options.source) ?? text(json.source) ?? 'n8n',
		correlationId:
			text(options.correlationId) ??
			text(json.correlation_id) ??
			text(headers['x-correlation-id']) ??
			`n8n-${this.getExecutionId()}-${itemIndex}`,
		scheme: options.signatureScheme === 'legacy' ? 'legacy' : 'v2',
		answerMode: answerModeOf.call(this, itemIndex),
	};
}

/** 2.2 asks for the chosen answer; versions 2 and 2.1 are answered when the CRM has the lead. */
function answerModeOf(this: IExecuteFunctions, itemIndex: number): AnswerMode {
	if (this.getNode().typeVersion < 2.2) return 'delivered';
	return this.getNodeParameter('answerWhen', itemIndex, 'stored') === 'delivered'
		? 'delivered'
		: 'stored';
}

function parseLead(this: IExecuteFunctions, custom: string, itemIndex: number): unknown {
	try {
		return JSON.parse(custom) as unknown;
	} catch (error) {
		throw new NodeOperationError(this.getNode(), 'Custom Lead is not valid JSON', {
			description: (error as Error).message,
			itemIndex,
		});
	}
}

export async function execute(
	this: IExecuteFunctions,
	{ credentials, call }: Processor,
): Promise<INodeExecutionData[][]> {
	// 2.1 answers the lead source itself; version 2 leaves that to a Respond to Webhook node
	const answerSource =
		this.getNode().typeVersion >= 2.1 &&
		(this.getNodeParameter('respondToSource', 0, true) as boolean);
	return await submitLeads.call(this, credentials, call, submission, answerSource);
}
