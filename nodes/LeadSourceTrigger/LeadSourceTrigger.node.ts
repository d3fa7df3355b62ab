import { randomUUID } from 'crypto';
import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IDataObject,
	INodeCredentialTestResult,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { localWebhookMethods } from '../common/local-webhook';
import { fromParameter, NodeConnectionTypes, webhookDescriptionFields } from 'n8n-workflow';
import { leadShapeProblem } from '../common/lead-shape';
import { recentCredentials } from '../common/recent-credentials';
import { SourceRateLimiter } from './rate-limit';
import {
	correlationIdOf,
	credentialProblem,
	idempotencyKeyOf,
	isJsonContentType,
	keyMatches,
	presentedKey,
	sourceScopedKey,
	type LeadSourceCredentials,
} from './source-auth';

const CREDENTIAL = 'leadSourceApi';

/** One per n8n process: a source's budget is shared by every request this process serves. */
const rateLimiter = new SourceRateLimiter();

/**
 * The lead webhook, one per lead source: checks the source's key before anything runs, so a
 * request without the right key starts no execution, and emits the lead with the source name
 * from the credential. The item never carries request headers, so no execution data holds a key.
 */
export class LeadSourceTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Lead Source Trigger',
		name: 'leadSourceTrigger',
		icon: {
			light: 'file:../../icons/leadSourceTrigger.svg',
			dark: 'file:../../icons/leadSourceTrigger.dark.svg',
		},
		group: ['trigger'],
		// 1.1: n8n resolves nothing of the trigger with its expression engine (for a version 1 webhook
		// node it evaluates an `options.binaryData` expression per request: a V8 isolate per lead);
		// 1.2: the source's key goes on in the source's own space (sourceScopedKey)
		version: [1, 1.1, 1.2],
		defaultVersion: 1.2,
		subtitle: '={{ "POST /webhook/" + $parameter["path"] }}',
		description:
			'Receive leads from one lead source that authenticates with its own key (Lead Source credential)',
		eventTriggerDescription: 'Waiting for a lead at the test URL',
		activationMessage: 'The lead source can now post leads to the production URL.',
		triggerPanel: {
			header: "Post a lead to the test URL with the source's key",
			executionsHelp: {
				inactive:
					'While you build the workflow, post a lead to the test URL (Webhook URLs above) with "Authorization: Bearer &lt;the source\'s key&gt;": it appears here. Publish the workflow to take leads at the production URL.',
				active:
					'The source posts its leads to the production URL; every lead is an execution in the Executions list. Post to the test URL to see one here.',
			},
			activationHint:
				"Once published, the source's leads arrive at the production URL, with its key, and run the workflow.",
		},
		defaults: { name: 'Lead Source Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'leadSourceApi', required: true, testedBy: 'leadSourceApiTest' }],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				// resolved by n8n without its expression engine, so a lead costs no V8 isolate here
				...webhookDescriptionFields({
					path: fromParameter('path'),
					responseMode: fromParameter('responseMode'),
				}),
				// the path as given, like n8n's Webhook node (not prefixed with the node's webhook id)
				isFullPath: true,
			},
		],
		properties: [
			{
				displayName: 'Path',
				name: 'path',
				type: 'string',
				default: 'lead-intake',
				required: true,
				placeholder: 'lead-intake',
				description:
					'The source posts its leads to the production URL below (…/webhook/ followed by this path); give every source a path of its own',
			},
			{
				displayName: 'Respond',
				name: 'responseMode',
				type: 'options',
				options: [
					{
						name: 'By the Lead Intake Node',
						value: 'responseNode',
						description:
							"The Lead Intake node answers with the processor's answer (Answer the Lead Source), or a Respond to Webhook node does",
					},
					{
						name: 'When Last Node Finishes',
						value: 'lastNode',
						description: 'The first item of the last node that ran is the answer',
					},
				],
				default: 'responseNode',
				description: 'How the source gets its answer once the lead has been handled',
			},
			{
				displayName:
					'A Lead Intake node that answers the source (Answer the Lead Source) needs "By the Lead Intake Node": with this setting leads are refused (503) until it is changed, since n8n would answer 200 with whatever item came last, even for a lead that was never stored',
				name: 'lastNodeNotice',
				type: 'notice',
				default: '',
				displayOptions: { show: { responseMode: ['lastNode'] } },
			},
			{
				displayName: 'Rate Limit (Requests per Minute)',
				name: 'rateLimitPerMinute',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 600,
				description:
					'How many requests this source may send per minute (bursts up to this many); more are answered 429 with Retry-After',
				hint: 'A first line counted in memory by each n8n process; the processor holds its per-source limit (SOURCE_RATE_LIMIT_PER_MINUTE) over all of them',
			},
		],
	};

	webhookMethods = localWebhookMethods;

	methods = {
		credentialTest: {
			async leadSourceApiTest(
				this: ICredentialTestFunctions,
				credential: ICredentialsDecrypted,
			): Promise<INodeCredentialTestResult> {
				const problem = credentialProblem(
					(credential.data ?? {}) as Partial<LeadSourceCredentials>,
				);
				return problem
					? { status: 'Error', message: problem }
					: { status: 'OK', message: 'The source name and keys are usable' };
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const headers = this.getHeaderData() as Record<string, string | string[] | undefined>;
		const correlationId = correlationIdOf(headers) ?? randomUUID();
		const refuse = (
			status: number,
			code: string,
			detail: string,
			extraHeaders: Record<string, string> = {},
		): IWebhookResponseData => {
			const response = this.getResponseObject();
			response.writeHead(status, {
				'content-type': 'application/json; charset=utf-8',
				'x-correlation-id': correlationId,
				...extraHeaders,
			});
			response.end(JSON.stringify({ detail, code, correlation_id: correlationId }));
			return { noWebhookResponse: true };
		};

		let credentials: LeadSourceCredentials;
		try {
			credentials = await recentCredentials<LeadSourceCredentials>(this, CREDENTIAL);
		} catch (error) {
			this.logger.error('Lead Source Trigger: the Lead Source credential cannot be read', {
				node: this.getNode().name,
				error: (error as Error).message,
			});
			return refuse(
				503,
				'source_not_configured',
				'This lead source is not set up; tell the n8n administrator',
			);
		}
		const problem = credentialProblem(credentials);
		if (problem) {
			this.logger.error(`Lead Source Trigger: ${problem}`, { node: this.getNode().name });
			return refuse(
				503,
				'source_not_configured',
				'This lead source is not set up; tell the n8n administrator',
			);
		}

		const key = presentedKey(headers);
		if (key === null) {
			return refuse(
				401,
				'api_key_missing',
				'Send the source key as "Authorization: Bearer <key>"',
				{
					'www-authenticate': 'Bearer realm="lead-intake"',
				},
			);
		}
		if (!keyMatches(key, credentials)) {
			return refuse(403, 'api_key_invalid', 'The key is not valid for this lead source');
		}

		// before the rate budget: a lead refused for the workflow's setup costs the source nothing
		const unheard = unheardAnswer(this);
		if (unheard) {
			this.logger.error(`Lead Source Trigger: ${unheard}`, { node: this.getNode().name });
			return refuse(
				503,
				'source_not_configured',
				'This lead source is not set up to answer yet; send the lead again later',
				{ 'retry-after': '60' },
			);
		}

		const perMinute = this.getNodeParameter('rateLimitPerMinute', 600) as number;
		const budget = rateLimiter.take(credentials.sourceName, perMinute, Date.now());
		if (!budget.allowed) {
			return refuse(
				429,
				'rate_limited',
				`More than ${perMinute} requests per minute from this source`,
				{
					'retry-after': String(budget.retryAfterSeconds),
				},
			);
		}

		const plusJson = this.getNode().typeVersion === 1;
		if (!isJsonContentType(this.getRequestObject().headers['content-type'], plusJson)) {
			return refuse(
				415,
				'unsupported_media_type',
				'Send the lead as JSON (Content-Type: application/json)',
			);
		}
		const idempotency = idempotencyKeyOf(headers);
		if ('invalid' in idempotency) {
			return refuse(
				400,
				'idempotency_key_invalid',
				`${idempotency.invalid} must be 1-200 printable ASCII characters, not beginning "erased:"`,
			);
		}

		const request = this.getRequestObject() as ReturnType<IWebhookFunctions['getRequestObject']> & {
			contentType?: string;
		};
		let body: unknown = this.getBodyData();
		// n8n parses a body only when its type reads exactly `application/json`: a `+json` type, or
		// `application/json ; charset=…` (n8n does not trim), arrives unparsed and is read here
		if (request.contentType !== 'application/json') {
			if (!request.rawBody) await request.readRawBody?.();
			body = parseJsonBody(request.rawBody);
			if (body === undefined) {
				return refuse(422, 'invalid_json', 'The body is not valid JSON');
			}
		}
		const shape = leadShapeProblem(body);
		if (shape) return refuse(422, shape.code, shape.detail);

		return {
			workflowData: [
				[
					{
						json: {
							body: body as IDataObject,
							source: credentials.sourceName,
							idempotency_key:
								idempotency.key !== null && this.getNode().typeVersion >= 1.2
									? sourceScopedKey(credentials.sourceName, idempotency.key)
									: idempotency.key,
							correlation_id: correlationId,
							received_at: new Date().toISOString(),
						},
					},
				],
			],
		};
	}
}

/**
 * What keeps the source from hearing what became of its lead, or null. Under "When Last Node
 * Finishes" n8n answers 200 with the last node's first item, a failed or never-stored lead
 * included, so a Lead Intake node (2.1 on, Answer the Lead Source on) that answers is not heard.
 * Under "By the Lead Intake Node" with nothing after the trigger that answers (such a Lead Intake
 * node, or a Respond to Webhook node), n8n answers 200 with an empty body once the run ends,
 * whatever became of the lead.
 */
function unheardAnswer(context: IWebhookFunctions): string | null {
	const mode = context.getNodeParameter('responseMode', 'responseNode');
	const children = context.getChildNodes(context.getNode().name, { includeNodeParameters: true });
	const answeringLeadIntake = children.find(
		(node) =>
			node.type.endsWith('.leadIntake') &&
			!node.disabled &&
			node.typeVersion >= 2.1 &&
			(node.parameters?.resource ?? 'lead') === 'lead' &&
			(node.parameters?.operation ?? 'submitLead') === 'submitLead' &&
			node.parameters?.respondToSource !== false,
	);
	if (mode === 'lastNode') {
		return answeringLeadIntake
			? `"${answeringLeadIntake.name}" answers the source, but Respond is "When Last Node Finishes", so n8n would answer 200 with the last item whatever became of the lead; set Respond to "By the Lead Intake Node"`
			: null;
	}
	if (mode !== 'responseNode' || answeringLeadIntake) return null;
	const responds = children.some(
		(node) => node.type === 'n8n-nodes-base.respondToWebhook' && !node.disabled,
	);
	return responds
		? null
		: 'Respond is "By the Lead Intake Node", but no node after the trigger answers (a Lead Intake node with Answer the Lead Source on, or a Respond to Webhook node), so n8n would answer 200 with nothing whatever became of the lead; turn Answer the Lead Source on, or add a Respond to Webhook node';
}

/** A body as it came, parsed as JSON (a leading byte-order mark allowed); undefined if it is not. */
function parseJsonBody(raw: Buffer | undefined): unknown {
	const text = (raw ?? Buffer.alloc(0)).toString('utf8');
	try {
		return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
	} catch {
		return undefined;
	}
}
