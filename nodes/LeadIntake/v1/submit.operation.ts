import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../common/display-options';
import { OUTCOME_OUTPUTS } from '../outcome';
import { parseAnswer } from '../processor';
import { contentKey } from '../signature';
import { submitLeads, text, type Submission } from '../submit';
import type { OperationModule, Processor } from '../v2/actions/node.type';

/* Submit as version 1 shipped it: its own parameters, the legacy signature, headers read from a Webhook node's item. */

export const option = {
	name: 'Submit Lead',
	value: 'submitLead',
	description: 'Sign the lead and send it to the processor; one output per outcome',
	action: 'Submit a lead',
} satisfies OperationModule['option'];

export const subtitle = 'Submit lead';

export const outputs = OUTCOME_OUTPUTS;

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Lead',
		name: 'lead',
		type: 'json',
		default: '',
		description:
			"The lead to submit, signed and sent exactly as serialized here. Empty: the incoming item's webhook body (or the whole item).",
	},
	{
		displayName: 'Idempotency Key',
		name: 'idempotencyKey',
		type: 'string',
		default: '={{ $json.headers?.["x-idempotency-key"] ?? $json.body?.idempotency_key ?? "" }}',
		description:
			"The key that makes a resend a duplicate. Defaults to the source's key; when empty, a hash of the lead is used, so the same lead is never processed twice.",
	},
	{
		displayName: 'Source',
		name: 'source',
		type: 'string',
		default: '',
		description:
			"Where the lead came from (X-Source); rate limits apply per source. Empty: the request's X-Source header, else n8n.",
	},
	{
		displayName: 'Correlation ID',
		name: 'correlationId',
		type: 'string',
		default: '',
		description:
			"Ties the processor's log lines and audit events to this execution (X-Correlation-ID). Empty: the request's X-Correlation-ID header, else one made from the execution ID.",
	},
]);

function submission(this: IExecuteFunctions, json: IDataObject, itemIndex: number): Submission {
	const headers = (json.headers ?? {}) as IDataObject;
	const leadParameter = this.getNodeParameter('lead', itemIndex, '') as unknown;
	const lead = leadParameter === '' ? (json.body ?? json) : leadParameter;
	const rawBody = typeof lead === 'string' ? lead : JSON.stringify(lead);
	return {
		lead: typeof lead === 'string' ? parseAnswer(lead) : lead,
		rawBody,
		idempotencyKey:
			text(this.getNodeParameter('idempotencyKey', itemIndex, '')) ?? contentKey(rawBody),
		source:
			text(this.getNodeParameter('source', itemIndex, '')) ?? text(headers['x-source']) ?? 'n8n',
		correlationId:
			text(this.getNodeParameter('correlationId', itemIndex, '')) ??
			text(headers['x-correlation-id']) ??
			`n8n-${this.getExecutionId()}-${itemIndex}`,
		scheme: 'legacy',
	};
}

export async function execute(
	this: IExecuteFunctions,
	{ credentials, call }: Processor,
): Promise<INodeExecutionData[][]> {
	return await submitLeads.call(this, credentials, call, submission, false);
}
