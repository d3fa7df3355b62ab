import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

export const CREDENTIAL = 'leadIntakeProcessorApi';
export const INTAKE_PATH = '/webhook/lead';
/**
 * No call waits longer: the processor answers a lead within its CRM timeout and its database
 * deadlines (seconds), and a replay or KPI day well within this.
 */
export const PROCESSOR_TIMEOUT_MS = 60_000;

export interface ProcessorCredentials {
	baseUrl: string;
	hmacSecret: string;
	/** Set during a rotation: v2 requests are signed with both secrets. */
	nextHmacSecret?: string;
	serviceToken: string;
}

export interface ProcessorAnswer {
	statusCode: number;
	answer: IDataObject;
	/** The processor's Retry-After (a 429, a 503), passed on to the lead source. */
	retryAfter?: string;
}

export interface ProcessorRequest {
	method: IHttpRequestMethods;
	path: string;
	body?: string;
	qs?: IDataObject;
	headers?: IDataObject;
}

/** One HTTP call to the processor; every status is an answer (the caller decides what it means). */
export type ProcessorCall = (request: ProcessorRequest) => Promise<ProcessorAnswer>;

export function processorCall(
	context: IExecuteFunctions,
	credentials: ProcessorCredentials,
): ProcessorCall {
	const baseUrl = credentials.baseUrl.replace(/\/+$/, '');
	return async ({ method, path, body, qs, headers }) => {
		const request: IHttpRequestOptions = {
			method,
			url: `${baseUrl}${path}`,
			body,
			qs,
			headers: { 'content-type': 'application/json', ...headers },
			json: false,
			timeout: PROCESSOR_TIMEOUT_MS,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
		};
		// the intake endpoint is authenticated by the signature alone; only the internal endpoints
		// need the service token (and each credential lookup is a database read)
		const response = (
			path === INTAKE_PATH
				? await context.helpers.httpRequest(request)
				: await context.helpers.httpRequestWithAuthentication.call(context, CREDENTIAL, request)
		) as { statusCode: number; body: unknown; headers?: IDataObject };
		const retryAfter = response.headers?.['retry-after'];
		return {
			statusCode: response.statusCode,
			answer: parseAnswer(response.body),
			...(typeof retryAfter === 'string' && /^\d{1,6}$/.test(retryAfter) ? { retryAfter } : {}),
		};
	};
}

/**
 * An operator endpoint: its 2xx answer, else a NodeApiError that says what to do. `notFound` names
 * the error codes that mean "no such run/item" (as opposed to a processor without the endpoint).
 */
export async function internalCall(
	context: IExecuteFunctions,
	call: ProcessorCall,
	request: ProcessorRequest,
	itemIndex: number,
): Promise<IDataObject> {
	let result: ProcessorAnswer;
	try {
		result = await call(request);
	} catch (error) {
		throw new NodeApiError(context.getNode(), { message: (error as Error).message } as JsonObject, {
			message: `The processor could not be reached: ${(error as Error).message}`,
			description: 'Check the Base URL of the Lead Intake Processor API credential',
			itemIndex,
		});
	}
	const { statusCode, answer } = result;
	if (statusCode >= 200 && statusCode < 300) return answer;
	throw new NodeApiError(context.getNode(), answer as JsonObject, {
		httpCode: String(statusCode),
		message: explain(statusCode, answer, request.path),
		description: typeof answer.detail === 'string' ? answer.detail : undefined,
		itemIndex,
	});
}

const NOT_FOUND_CODES = new Set(['run_not_found', 'dlq_item_not_found']);

function explain(statusCode: number, answer: IDataObject, path: string): string {
	const detail = typeof answer.detail === 'string' ? answer.detail : null;
	if (statusCode === 401) {
		return 'The processor refused the service token (401); check the Service Token of the Lead Intake Processor API credential';
	}
	if (statusCode === 404) {
		return NOT_FOUND_CODES.has(String(answer.code)) && detail
			? detail
			: `This processor does not offer ${path} (404); update the processor to a version with this operation`;
	}
	if (statusCode === 409 && detail) return detail;
	if (statusCode === 400 && detail) return `The processor refused the parameters: ${detail}`;
	return `The processor answered HTTP ${statusCode} for ${path}`;
}

export function parseAnswer(body: unknown): IDataObject {
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
