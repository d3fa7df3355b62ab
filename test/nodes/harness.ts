import { mockDeep, type DeepMockProxy } from 'jest-mock-extended';
import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	INode,
	INodeExecutionData,
	IWebhookFunctions,
} from 'n8n-workflow';

/*
 * A mocked n8n execution context in the style of n8n's own node tests (jest-mock-extended): the
 * node's execute() runs as in n8n, against parameters, input items and an HTTP layer the test
 * stubs. No n8n install, no network.
 */

/** A parameter's value, or a function of the item index for per-item values. */
export type ParameterValue = unknown | ((itemIndex: number) => unknown);

export interface HttpCall {
	options: IHttpRequestOptions;
	authenticated: boolean;
}

export interface ExecuteHarness {
	context: DeepMockProxy<IExecuteFunctions>;
	/** Every HTTP request the node made, in order. */
	calls: HttpCall[];
}

export function node(type: string, typeVersion: number): INode {
	return {
		id: 'node-1',
		name: type,
		type: `n8n-nodes-lead-intake.${type}`,
		typeVersion,
		position: [0, 0],
		parameters: {},
	};
}

export function executeHarness(options: {
	type: string;
	version: number;
	parameters: Record<string, ParameterValue>;
	items: IDataObject[];
	credentials?: IDataObject;
	continueOnFail?: boolean;
	/** Answers each request; throw to simulate a network failure. */
	respond?: (call: HttpCall) => { statusCode: number; body: unknown };
}): ExecuteHarness {
	const context = mockDeep<IExecuteFunctions>();
	const calls: HttpCall[] = [];
	context.getNode.mockReturnValue(node(options.type, options.version));
	context.getInputData.mockReturnValue(options.items.map((json): INodeExecutionData => ({ json })));
	context.getExecutionId.mockReturnValue('exec-1');
	// a test run by hand: credentials are read afresh every time (recent-credentials.test.ts)
	context.getMode.mockReturnValue('manual');
	context.continueOnFail.mockReturnValue(options.continueOnFail ?? false);
	context.getCredentials.mockResolvedValue(options.credentials ?? {});
	const parameter = (name: string, itemIndex: number, fallback: unknown) => {
		if (!(name in options.parameters)) return fallback;
		const value = options.parameters[name];
		return typeof value === 'function' ? (value as (index: number) => unknown)(itemIndex) : value;
	};
	(context.getNodeParameter as unknown as jest.Mock).mockImplementation(parameter);
	const answer = async (request: IHttpRequestOptions, authenticated: boolean) => {
		const call = { options: request, authenticated };
		calls.push(call);
		const response = (options.respond ?? (() => ({ statusCode: 200, body: '{}' })))(call);
		return request.returnFullResponse ? response : response.body;
	};
	(context.helpers.httpRequest as unknown as jest.Mock).mockImplementation((request) =>
		answer(request as IHttpRequestOptions, false),
	);
	(context.helpers.httpRequestWithAuthentication as unknown as jest.Mock).mockImplementation(
		(_credential: string, request: IHttpRequestOptions) => answer(request, true),
	);
	return { context, calls };
}

/** The JSON of each output's items. */
export function jsonOf(outputs: INodeExecutionData[][]): IDataObject[][] {
	return outputs.map((output) => output.map((item) => item.json));
}

export interface WebhookHarness {
	context: DeepMockProxy<IWebhookFunctions>;
	/** What the node answered directly (status, headers, body), if it did. */
	response: { status?: number; headers?: Record<string, string>; body?: string };
}

export function webhookHarness(options: {
	headers: Record<string, string>;
	body?: unknown;
	credentials: IDataObject | Error;
	parameters?: Record<string, unknown>;
	version?: number;
}): WebhookHarness {
	const context = mockDeep<IWebhookFunctions>();
	const response: WebhookHarness['response'] = {};
	context.getNode.mockReturnValue(node('leadSourceTrigger', options.version ?? 1.1));
	context.getMode.mockReturnValue('manual');
	context.getHeaderData.mockReturnValue(options.headers);
	context.getBodyData.mockReturnValue((options.body ?? {}) as IDataObject);
	context.getRequestObject.mockReturnValue({ headers: options.headers } as never);
	context.getResponseObject.mockReturnValue({
		writeHead: (status: number, headers: Record<string, string>) => {
			response.status = status;
			response.headers = headers;
		},
		end: (body: string) => {
			response.body = body;
		},
	} as never);
	if (options.credentials instanceof Error) {
		context.getCredentials.mockRejectedValue(options.credentials);
	} else {
		context.getCredentials.mockResolvedValue(options.credentials);
	}
	(context.getNodeParameter as unknown as jest.Mock).mockImplementation(
		(name: string, fallback: unknown) => options.parameters?.[name] ?? fallback,
	);
	return { context, response };
}
