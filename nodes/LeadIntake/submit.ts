import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { concernsTheSource, OUTCOMES, outcomeOf } from './outcome';
import {
	INTAKE_PATH,
	type ProcessorAnswer,
	type ProcessorCall,
	type ProcessorCredentials,
} from './processor';
import { signatureHeaders, type AnswerMode, type SignatureScheme } from './signature';

/*
 * Submit, as every version does it: sign each lead, send it, put it on the output of its outcome.
 * What a lead is sent as (which parameters, which item fields) is each version's own.
 */

/** What one lead is sent as: the lead itself and the values the headers carry. */
export interface Submission {
	lead: unknown;
	rawBody: string;
	idempotencyKey: string;
	source: string;
	correlationId: string;
	scheme: SignatureScheme;
	/** When the processor is to answer; not set (versions before 2.2): once the CRM has the lead. */
	answerMode?: AnswerMode;
}

/** One version's reading of an input item. */
export type SubmissionOf = (
	this: IExecuteFunctions,
	json: IDataObject,
	itemIndex: number,
) => Submission;

/**
 * Signs each lead, sends it, and puts it on the output of its outcome. With `answerSource` the
 * webhook's caller gets the first lead's answer, as a Respond to Webhook node would give it.
 */
export async function submitLeads(
	this: IExecuteFunctions,
	credentials: ProcessorCredentials,
	call: ProcessorCall,
	submissionOf: SubmissionOf,
	answerSource: boolean,
): Promise<INodeExecutionData[][]> {
	const outputs: INodeExecutionData[][] = OUTCOMES.map(() => []);
	const secrets = [credentials.hmacSecret, credentials.nextHmacSecret ?? '']
		.map((secret) => secret.trim())
		.filter(Boolean);
	const items = this.getInputData();
	let sourceAnswered = !answerSource;
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const submission = submissionOf.call(this, items[itemIndex]!.json, itemIndex);
			const timestamp = String(Math.floor(Date.now() / 1000));
			const headers: IDataObject = {
				...signatureHeaders(
					submission.scheme,
					secrets,
					submission.idempotencyKey,
					timestamp,
					submission.rawBody,
					submission.answerMode,
					submission.source,
				),
				'x-correlation-id': submission.correlationId,
			};
			const { statusCode, answer, retryAfter } = await call({
				method: 'POST',
				path: INTAKE_PATH,
				body: submission.rawBody,
				headers,
			}).catch(
				(error: Error): ProcessorAnswer => ({
					statusCode: 0,
					answer: {
						code: 'processor_unreachable',
						detail: `The processor could not be reached: ${error.message}`,
					} as IDataObject,
				}),
			);
			const outcome = outcomeOf(statusCode, answer);
			if (!sourceAnswered) {
				sourceAnswered = true;
				await answerTheSource.call(this, statusCode, answer, submission.correlationId, retryAfter);
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
					...samePersonOf(outcome, answer),
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
				await answerTheSource.call(this, 0, { code: 'lead_not_submitted' }, null);
			}
		}
	}
	addOutcomeHints.call(this, outputs);
	return outputs;
}

/**
 * Answers the webhook's caller with the processor's answer. A processor that could not be reached
 * (status 0) becomes 502, without the address or error that says why: that is for the operator;
 * so does a refusal of the hand-off itself (concernsTheSource), which the source cannot fix.
 */
async function answerTheSource(
	this: IExecuteFunctions,
	statusCode: number,
	answer: IDataObject,
	correlationId: string | null,
	retryAfter?: string,
): Promise<void> {
	const reached = statusCode > 0 && concernsTheSource(statusCode, answer);
	const body: IDataObject = reached
		? answer
		: {
				code: statusCode > 0 ? 'lead_not_handed_on' : answer.code,
				detail: 'The lead could not be handed on; send it again later with the same key',
				correlation_id: correlationId,
			};
	await this.sendResponse({
		statusCode: reached ? statusCode : 502,
		headers: {
			'content-type': 'application/json; charset=utf-8',
			...(correlationId ? { 'x-correlation-id': correlationId } : {}),
			// a 429 of the processor's per-source limit reaches the source as the trigger's would
			...(reached && retryAfter ? { 'retry-after': retryAfter } : {}),
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

/** A non-empty trimmed string, else undefined. */
export function text(value: unknown): string | undefined {
	if (typeof value !== 'string' && typeof value !== 'number') return undefined;
	const trimmed = String(value).trim();
	return trimmed === '' ? undefined : trimmed;
}

/**
 * A duplicate of the same person under another key (the processor's answer names the first run
 * and what matched): `duplicate_of` and `match` on the item, so a workflow can branch on them
 * without reading the response. Absent for a repeated key (the same request again).
 */
function samePersonOf(outcome: string, answer: IDataObject): IDataObject {
	if (outcome !== 'duplicate' || typeof answer.duplicate_of !== 'string') return {};
	return { duplicate_of: answer.duplicate_of, match: answer.match ?? null };
}
