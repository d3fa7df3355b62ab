import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { OUTCOMES, outcomeOf } from './outcome';
import {
	INTAKE_PATH,
	parseAnswer,
	type ProcessorCall,
	type ProcessorCredentials,
} from './processor';
import { contentKey, signatureHeaders, type SignatureScheme } from './signature';

/** What one lead is sent as: the lead itself and the values the headers carry. */
interface Submission {
	lead: unknown;
	rawBody: string;
	idempotencyKey: string;
	source: string;
	correlationId: string;
	scheme: SignatureScheme;
}

const IDEMPOTENCY_HEADERS = ['webhook-id', 'idempotency-key', 'x-idempotency-key'];

/** Signs each lead, sends it, and puts it on the output of its outcome. */
export async function submitLeads(
	this: IExecuteFunctions,
	credentials: ProcessorCredentials,
	call: ProcessorCall,
): Promise<INodeExecutionData[][]> {
	const version = this.getNode().typeVersion;
	const outputs: INodeExecutionData[][] = OUTCOMES.map(() => []);
	const secrets = [credentials.hmacSecret, credentials.nextHmacSecret ?? '']
		.map((secret) => secret.trim())
		.filter(Boolean);
	const items = this.getInputData();
	// the webhook's caller gets the first lead's answer, as a Respond to Webhook node would give it
	let sourceAnswered =
		version < 2.1 || !(this.getNodeParameter('respondToSource', 0, true) as boolean);
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const submission =
				version >= 2
					? submissionV2.call(this, items[itemIndex]!.json, itemIndex)
					: submissionV1.call(this, items[itemIndex]!.json, itemIndex);
			const timestamp = String(Math.floor(Date.now() / 1000));
			const headers: IDataObject = {
				...signatureHeaders(
					submission.scheme,
					secrets,
					submission.idempotencyKey,
					timestamp,
					submission.rawBody,
				),
				'x-source': submission.source,
				'x-correlation-id': submission.correlationId,
			};
			const { statusCode, answer } = await call({
				method: 'POST',
				path: INTAKE_PATH,
				body: submission.rawBody,
				headers,
			}).catch((error: Error) => ({
				statusCode: 0,
				answer: {
					code: 'processor_unreachable',
					detail: `The processor could not be reached: ${error.message}`,
				} as IDataObject,
			}));
			const outcome = outcomeOf(statusCode, answer);
			if (!sourceAnswered) {
				sourceAnswered = true;
				await answerSource.call(this, statusCode, answer, submission.correlationId);
			}
			outputs[OUTCOMES.findIndex(({ name }) => name === outcome)]!.push({
				json: {
					outcome,
					statusCode,
					run_id: (answer.run_id as string | undefined) ?? null,
					idempotency_key: submission.idempotencyKey,
					correlation_id: submission.correlationId,
					source: submission.source,
					response: answer,
					lead: submission.lead as IDataObject,
				},
				pairedItem: { item: itemIndex },
			});
		} catch (error) {
			if (!this.continueOnFail()) {
				throw error instanceof NodeOperationError
					? error
					: new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			}
			outputs[OUTCOMES.findIndex(({ name }) => name === 'failed')]!.push({
				json: { outcome: 'failed', statusCode: 0, error: (error as Error).message },
				pairedItem: { item: itemIndex },
			});
			if (!sourceAnswered) {
				sourceAnswered = true;
				await answerSource.call(this, 0, { code: 'lead_not_submitted' }, null);
			}
		}
	}
	addOutcomeHints.call(this, outputs);
	return outputs;
}

/**
 * Answers the webhook's caller with the processor's answer. A processor that could not be reached
 * (status 0) becomes 502, without the address or error that says why: that is for the operator.
 */
async function answerSource(
	this: IExecuteFunctions,
	statusCode: number,
	answer: IDataObject,
	correlationId: string | null,
): Promise<void> {
	const reached = statusCode > 0;
	const body: IDataObject = reached
		? answer
		: {
				code: answer.code,
				detail: 'The lead could not be handed on; send it again later with the same key',
				correlation_id: correlationId,
			};
	await this.sendResponse({
		statusCode: reached ? statusCode : 502,
		headers: {
			'content-type': 'application/json; charset=utf-8',
			...(correlationId ? { 'x-correlation-id': correlationId } : {}),
		},
		body,
	});
}

/** After a run: one hint per output other than Accepted that received leads, saying what to do. */
function addOutcomeHints(this: IExecuteFunctions, outputs: INodeExecutionData[][]): void {
	OUTCOMES.forEach(({ name, displayName, meaning, action, hintType }, index) => {
		const count = outputs[index]!.length;
		if (name === 'accepted' || count === 0) return;
		this.addExecutionHints({
			message: `${count} ${count === 1 ? 'lead' : 'leads'} on <b>${displayName}</b>: ${meaning} ${action}`,
			type: hintType,
			location: 'outputPane',
		});
	});
}

function submissionV2(this: IExecuteFunctions, json: IDataObject, itemIndex: number): Submission {
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
	};
}

/** Version 1 exactly as it shipped: legacy signature, source and correlation id from headers. */
function submissionV1(this: IExecuteFunctions, json: IDataObject, itemIndex: number): Submission {
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

/** A non-empty trimmed string, else undefined. */
function text(value: unknown): string | undefined {
	if (typeof value !== 'string' && typeof value !== 'number') return undefined;
	const trimmed = String(value).trim();
	return trimmed === '' ? undefined : trimmed;
}
