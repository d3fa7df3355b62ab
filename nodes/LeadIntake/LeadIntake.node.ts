import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { OUTCOMES, outcomeOf, type Outcome } from './outcome';
import { contentKey, signLead } from './signature';

const CREDENTIAL = 'leadIntakeProcessorApi';
const INTAKE_PATH = '/webhook/lead';

type Operation = 'submitLead' | 'retryDue' | 'computeKpi';

interface ProcessorCredentials {
	baseUrl: string;
	hmacSecret: string;
	serviceToken: string;
}

interface ProcessorResponse {
	statusCode: number;
	body: unknown;
}

export class LeadIntake implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Lead Intake',
		name: 'leadIntake',
		icon: {
			light: 'file:../../icons/leadIntake.svg',
			dark: 'file:../../icons/leadIntake.dark.svg',
		},
		group: ['transform'],
		version: 1,
		subtitle:
			'={{ {"submitLead": "Submit lead", "retryDue": "Retry due DLQ items", "computeKpi": "Compute daily KPI"}[$parameter["operation"]] }}',
		description:
			'Sign leads and submit them to the Lead Intake processor, retry its DLQ and compute KPIs',
		defaults: { name: 'Lead Intake' },
		inputs: [NodeConnectionTypes.Main],
		outputs: `={{ {
			"submitLead": [{"type": "main", "displayName": "Accepted"}, {"type": "main", "displayName": "Duplicate"}, {"type": "main", "displayName": "Rejected"}, {"type": "main", "displayName": "Failed"}],
			"retryDue": [{"type": "main", "displayName": "Summary"}, {"type": "main", "displayName": "Dead Items"}],
			"computeKpi": [{"type": "main", "displayName": "KPI"}]
		}[$parameter["operation"] ?? "submitLead"] }}`,
		credentials: [{ name: CREDENTIAL, required: true }],
		usableAsTool: true,
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Submit Lead',
						value: 'submitLead',
						description: 'Sign the lead and send it to the processor; one output per outcome',
						action: 'Submit a lead',
					},
					{
						name: 'Retry Due DLQ Items',
						value: 'retryDue',
						description: 'Re-deliver the DLQ items whose retry time has come',
						action: 'Retry due DLQ items',
					},
					{
						name: 'Compute Daily KPI',
						value: 'computeKpi',
						description: "Recompute a day's KPIs and write its stakeholder report",
						action: 'Compute daily KPI',
					},
				],
				default: 'submitLead',
			},
			{
				displayName: 'Lead',
				name: 'lead',
				type: 'json',
				default: '',
				description:
					"The lead to submit, signed and sent exactly as serialized here. Empty: the incoming item's webhook body (or the whole item).",
				displayOptions: { show: { operation: ['submitLead'] } },
			},
			{
				displayName: 'Idempotency Key',
				name: 'idempotencyKey',
				type: 'string',
				default: '={{ $json.headers?.["x-idempotency-key"] ?? $json.body?.idempotency_key ?? "" }}',
				description:
					"The key that makes a resend a duplicate. Defaults to the source's key; when empty, a hash of the lead is used, so the same lead is never processed twice.",
				displayOptions: { show: { operation: ['submitLead'] } },
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: '',
				description:
					"Where the lead came from (X-Source); rate limits apply per source. Empty: the request's X-Source header, else n8n.",
				displayOptions: { show: { operation: ['submitLead'] } },
			},
			{
				displayName: 'Correlation ID',
				name: 'correlationId',
				type: 'string',
				default: '',
				description:
					"Ties the processor's log lines and audit events to this execution (X-Correlation-ID). Empty: the request's X-Correlation-ID header, else one made from the execution ID.",
				displayOptions: { show: { operation: ['submitLead'] } },
			},
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 10000 },
				default: 500,
				description: 'How many due items to claim and re-deliver in this run',
				displayOptions: { show: { operation: ['retryDue'] } },
			},
			{
				displayName: 'Date',
				name: 'date',
				type: 'string',
				default: '',
				placeholder: '2026-11-23',
				description: 'The UTC day to compute (YYYY-MM-DD); empty means yesterday',
				displayOptions: { show: { operation: ['computeKpi'] } },
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0) as Operation;
		const credentials = (await this.getCredentials(CREDENTIAL)) as unknown as ProcessorCredentials;
		const baseUrl = credentials.baseUrl.replace(/\/+$/, '');
		const call: Call = async (method, path, body, headers) => {
			const request: IHttpRequestOptions = {
				method,
				url: `${baseUrl}${path}`,
				body,
				headers: { 'content-type': 'application/json', ...headers },
				json: false,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
			};
			// the intake endpoint is authenticated by the HMAC signature alone; only the internal
			// endpoints need the service token (and each credential lookup is a database read)
			const response = (
				path === INTAKE_PATH
					? await this.helpers.httpRequest(request)
					: await this.helpers.httpRequestWithAuthentication.call(this, CREDENTIAL, request)
			) as ProcessorResponse;
			return { statusCode: response.statusCode, answer: parseAnswer(response.body) };
		};

		if (operation === 'submitLead') return submitLeads.call(this, credentials, call);
		if (operation === 'retryDue') return retryDue.call(this, call);
		return computeKpi.call(this, call);
	}
}

type Call = (
	method: IHttpRequestMethods,
	path: string,
	body: string,
	headers: IDataObject,
) => Promise<{ statusCode: number; answer: IDataObject }>;

async function submitLeads(
	this: IExecuteFunctions,
	credentials: ProcessorCredentials,
	call: Call,
): Promise<INodeExecutionData[][]> {
	const outputs: INodeExecutionData[][] = OUTCOMES.map(() => []);
	const items = this.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			// empty parameters take their value from the webhook item in code: no expression to
			// evaluate per lead (measurably faster in n8n), same result as the documented defaults
			const { json } = items[itemIndex]!;
			const sourceHeaders = (json.headers ?? {}) as IDataObject;
			const leadParameter = this.getNodeParameter('lead', itemIndex, '') as unknown;
			const lead = leadParameter === '' ? (json.body ?? json) : leadParameter;
			const rawBody = typeof lead === 'string' ? lead : JSON.stringify(lead);
			const idempotencyKey =
				String(this.getNodeParameter('idempotencyKey', itemIndex, '')).trim() ||
				contentKey(rawBody);
			const source = String(
				this.getNodeParameter('source', itemIndex, '') || sourceHeaders['x-source'] || 'n8n',
			);
			const correlationId = String(
				this.getNodeParameter('correlationId', itemIndex, '') ||
					sourceHeaders['x-correlation-id'] ||
					`n8n-${this.getExecutionId()}-${itemIndex}`,
			);
			const timestamp = String(Math.floor(Date.now() / 1000));
			const headers: IDataObject = {
				'x-timestamp': timestamp,
				'x-signature': signLead(credentials.hmacSecret, timestamp, rawBody),
				'x-idempotency-key': idempotencyKey,
				'x-source': source,
				'x-correlation-id': correlationId,
			};

			const { statusCode, answer } = await call('POST', INTAKE_PATH, rawBody, headers).catch(
				(error: Error) => ({
					statusCode: 0,
					answer: {
						code: 'processor_unreachable',
						detail: `The processor could not be reached: ${error.message}`,
					} as IDataObject,
				}),
			);
			const outcome: Outcome = outcomeOf(statusCode, answer);
			outputs[OUTCOMES.indexOf(outcome)]!.push({
				json: {
					outcome,
					statusCode,
					run_id: (answer.run_id as string | undefined) ?? null,
					idempotency_key: idempotencyKey,
					correlation_id: correlationId,
					response: answer,
					lead: typeof lead === 'string' ? parseAnswer(lead) : (lead as IDataObject),
				},
				pairedItem: { item: itemIndex },
			});
		} catch (error) {
			if (!this.continueOnFail())
				throw new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			outputs[OUTCOMES.indexOf('failed')]!.push({
				json: { outcome: 'failed', statusCode: 0, error: (error as Error).message },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return outputs;
}

async function retryDue(this: IExecuteFunctions, call: Call): Promise<INodeExecutionData[][]> {
	const summaries: INodeExecutionData[] = [];
	const deadItems: INodeExecutionData[] = [];
	const items = this.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const limit = this.getNodeParameter('batchSize', itemIndex, 500) as number;
			const answer = await internalCall.call(
				this,
				call,
				'/internal/dlq/retry-due',
				{ limit },
				itemIndex,
			);
			summaries.push({ json: answer, pairedItem: { item: itemIndex } });
			for (const dead of (answer.dead_items as IDataObject[] | undefined) ?? []) {
				deadItems.push({
					json: {
						outcome: 'dead',
						statusCode: dead.status_code ?? 0,
						run_id: dead.run_id,
						response: dead,
					},
					pairedItem: { item: itemIndex },
				});
			}
		} catch (error) {
			if (!this.continueOnFail()) throw asNodeError(this, error, itemIndex);
			summaries.push({
				json: { error: (error as Error).message },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return [summaries, deadItems];
}

async function computeKpi(this: IExecuteFunctions, call: Call): Promise<INodeExecutionData[][]> {
	const results: INodeExecutionData[] = [];
	const items = this.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const date = String(this.getNodeParameter('date', itemIndex, '')).trim();
			const answer = await internalCall.call(
				this,
				call,
				'/internal/kpi/compute-daily',
				date ? { date } : {},
				itemIndex,
			);
			results.push({ json: answer, pairedItem: { item: itemIndex } });
		} catch (error) {
			if (!this.continueOnFail()) throw asNodeError(this, error, itemIndex);
			results.push({ json: { error: (error as Error).message }, pairedItem: { item: itemIndex } });
		}
	}
	return [results];
}

/** An internal endpoint: any answer but 2xx is a NodeApiError that says what to do. */
async function internalCall(
	this: IExecuteFunctions,
	call: Call,
	path: string,
	body: IDataObject,
	itemIndex: number,
): Promise<IDataObject> {
	const { statusCode, answer } = await call('POST', path, JSON.stringify(body), {});
	if (statusCode >= 200 && statusCode < 300) return answer;
	const hint =
		statusCode === 404
			? `This processor does not offer ${path} (404); update the processor to a version with the DLQ/KPI endpoints`
			: statusCode === 401
				? 'The processor refused the service token (401); check the Service Token of the Lead Intake Processor API credential'
				: `The processor answered HTTP ${statusCode} for ${path}`;
	throw new NodeApiError(this.getNode(), answer as JsonObject, {
		httpCode: String(statusCode),
		message: hint,
		description: typeof answer.detail === 'string' ? answer.detail : undefined,
		itemIndex,
	});
}

function asNodeError(
	context: IExecuteFunctions,
	error: unknown,
	itemIndex: number,
): NodeApiError | NodeOperationError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	return new NodeOperationError(context.getNode(), error as Error, { itemIndex });
}

function parseAnswer(body: unknown): IDataObject {
	if (typeof body !== 'string') return (body ?? {}) as IDataObject;
	try {
		const parsed = JSON.parse(body) as unknown;
		return parsed !== null && typeof parsed === 'object'
			? (parsed as IDataObject)
			: { value: parsed as string };
	} catch {
		return { detail: body.slice(0, 500) };
	}
}
