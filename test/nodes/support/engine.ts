/*
 * n8n's own execution engine for our nodes, the way n8n tests its nodes (its node test harness):
 * our package is loaded by n8n-core's package loader from package.json's "n8n" section (the
 * TypeScript sources beside the dist paths it names), each test builds a small workflow, and
 * n8n-core's WorkflowExecute runs it: n8n resolves parameters (defaults, displayOptions, versions,
 * expressions), pairs items, applies Continue On Fail, collects hints and the answer to a webhook.
 * Credentials come from the test; HTTP goes to a local stub server (./http-stub.ts).
 */
import { readFileSync } from 'fs';
import { readFile } from 'fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'http';
import type { AddressInfo } from 'net';
import { join, resolve } from 'path';

import {
	CredentialTestContext,
	ExecutionLifecycleHooks,
	PackageDirectoryLoader,
	WebhookContext,
	WorkflowExecute,
} from 'n8n-core';
import type {
	ICredentialDataDecryptedObject,
	ICredentials,
	ICredentialsDecrypted,
	ICredentialType,
	IDataObject,
	IExecuteFunctions,
	IExecuteResponsePromiseData,
	IHttpRequestMethods,
	IHttpRequestOptions,
	INode,
	INodeCredentialTestResult,
	INodeCredentialsDetails,
	INodeExecutionData,
	INodeProperties,
	INodeType,
	INodeTypeDescription,
	INodeTypes,
	IRun,
	IRunExecutionData,
	ITaskData,
	IVersionedNodeType,
	IWebhookResponseData,
	IWorkflowExecuteAdditionalData,
	NodeHint,
	WorkflowExecuteMode,
} from 'n8n-workflow';
import {
	createRunExecutionData,
	ICredentialsHelper,
	isExpression,
	NodeConnectionTypes,
	NodeHelpers,
	Workflow,
} from 'n8n-workflow';

export const PACKAGE = 'n8n-nodes-lead-intake';
const repoRoot = resolve(__dirname, '..', '..', '..');

/**
 * n8n's loader for an installed community package, reading the sources: package.json names the
 * built files (dist/…/X.node.js); the test loads nodes/…/X.node.ts beside them, as n8n's own
 * harness does for its packages. Everything else (codex, icons, versions) is n8n's own loading.
 */
class SourcePackageLoader extends PackageDirectoryLoader {
	override resolvePath(file: string): string {
		return super.resolvePath(file.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
	}
}

/** A start node for test workflows: emits the items its `items` parameter holds. */
class TestItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Test Items',
		name: 'items',
		group: ['input'],
		version: 1,
		description: 'Emits fixed items',
		defaults: { name: 'Items' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		properties: [{ displayName: 'Items', name: 'items', type: 'json', default: '[]' }],
	};

	async execute(this: IExecuteFunctions) {
		const items = this.getNodeParameter('items', 0) as IDataObject[] | string;
		const list = (typeof items === 'string' ? JSON.parse(items) : items) as IDataObject[];
		return [list.map((json) => ({ json }))];
	}
}

/**
 * Stands in for n8n's Respond to Webhook in a workflow file, so that a trigger sees it among the
 * nodes after it (the Lead Source Trigger refuses leads that nothing would answer). It passes its
 * items on and answers nothing: n8n's own node is not run here.
 */
class RespondStandIn implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Respond to Webhook (stand-in)',
		name: 'respondToWebhook',
		group: ['transform'],
		version: [1, 1.1, 1.2, 1.3, 1.4, 1.5],
		description: "Stands in for n8n's Respond to Webhook",
		defaults: { name: 'Respond to Webhook' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [],
	};

	async execute(this: IExecuteFunctions) {
		return [this.getInputData()];
	}
}

const RESPOND_TO_WEBHOOK = 'n8n-nodes-base.respondToWebhook';
const TEST_NODES: Record<string, INodeType> = {
	'test.items': new TestItems(),
	[RESPOND_TO_WEBHOOK]: new RespondStandIn(),
};

let loader: SourcePackageLoader | undefined;

async function packageLoader(): Promise<SourcePackageLoader> {
	if (!loader) {
		const fresh = new SourcePackageLoader(repoRoot);
		await fresh.loadAll();
		loader = fresh;
	}
	return loader;
}

/** Our package as n8n loaded it: the node types (all versions) and credential types. */
export async function loadedPackage() {
	const { nodeTypes, credentialTypes, types, packageJson } = await packageLoader();
	return { nodeTypes, credentialTypes, types, packageJson };
}

class NodeTypes implements INodeTypes {
	constructor(private readonly packageNodes: SourcePackageLoader['nodeTypes']) {}

	getByName(type: string): INodeType | IVersionedNodeType {
		if (type in TEST_NODES) return TEST_NODES[type]!;
		const [packageName, name] = type.split('.');
		const loaded = packageName === PACKAGE ? this.packageNodes[name!] : undefined;
		if (!loaded) throw new Error(`Unknown node type ${type}`);
		return loaded.type;
	}

	getByNameAndVersion(type: string, version?: number): INodeType {
		return NodeHelpers.getVersionedNodeType(this.getByName(type), version);
	}

	getKnownTypes() {
		return {};
	}
}

/** Credentials as the test gives them, with the credential type's defaults, like n8n's helper. */
class TestCredentialsHelper extends ICredentialsHelper {
	/** Every credential read, by type, in order. */
	readonly reads: string[] = [];

	constructor(
		private readonly types: Record<string, ICredentialType>,
		private readonly data: Record<string, ICredentialDataDecryptedObject>,
	) {
		super();
	}

	getParentTypes(): string[] {
		return [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	/** n8n's generic authentication: each header/qs/body entry resolved with $credentials. */
	async authenticate(
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		requestOptions: IHttpRequestOptions,
		workflow?: Workflow,
		node?: INode,
	): Promise<IHttpRequestOptions> {
		const { authenticate } = this.type(typeName);
		if (typeof authenticate === 'function') return await authenticate(credentials, requestOptions);
		if (authenticate?.type !== 'generic' || !workflow || !node) return requestOptions;
		const resolveValue = (value: string) =>
			isExpression(value)
				? String(
						workflow.expression.getSimpleParameterValue(
							node,
							value,
							'internal',
							{ $credentials: credentials },
							undefined,
							'',
						) ?? '',
					)
				: value;
		const target = requestOptions as unknown as Record<string, Record<string, string>>;
		for (const [where, entries] of Object.entries(authenticate.properties)) {
			target[where] ??= {};
			for (const [key, value] of Object.entries(entries as Record<string, string>)) {
				target[where]![resolveValue(key)] = resolveValue(value);
			}
		}
		return requestOptions;
	}

	async preAuthentication() {
		return undefined;
	}

	async runPreAuthentication() {
		return undefined;
	}

	async getCredentials(): Promise<ICredentials> {
		throw new Error('not used by our nodes');
	}

	async getDecrypted(
		_additionalData: IWorkflowExecuteAdditionalData,
		_nodeCredentials: INodeCredentialsDetails,
		type: string,
	): Promise<ICredentialDataDecryptedObject> {
		this.reads.push(type);
		const data = this.data[type];
		if (!data) throw new Error(`Credentials of type "${type}" are not set`);
		const defaults = NodeHelpers.getNodeParameters(
			this.type(type).properties,
			data as never,
			true,
			false,
			null,
			null,
		) as ICredentialDataDecryptedObject;
		return { ...defaults, ...data };
	}

	async updateCredentials() {}

	async updateCredentialsOauthTokenData() {}

	getCredentialsProperties(type: string): INodeProperties[] {
		return this.type(type).properties;
	}

	private type(name: string): ICredentialType {
		const type = this.types[name];
		if (!type) throw new Error(`Unknown credential type ${name}`);
		return type;
	}
}

/** A node of a test workflow; `type` without a package is one of ours. */
export interface NodeSpec {
	name: string;
	type: string;
	typeVersion: number;
	parameters?: IDataObject;
	/** Credential types to attach (by default every type the test gives credentials for). */
	credentials?: string[];
	/** The id of the attached credential of a type (by default `<type>-1`). */
	credentialIds?: Record<string, string>;
	continueOnFail?: boolean;
	onError?: INode['onError'];
}

export interface WorkflowSpec {
	/** Stable per workflow: credentials are cached per workflow and node (recent-credentials.ts). */
	id?: string;
	nodes: NodeSpec[];
	/** Source node -> its outputs -> the nodes each feeds. Default: each node feeds the next. */
	connections?: Record<string, string[][]>;
}

export interface RunOptions {
	/** Items the workflow starts with (a Test Items node in front of the first node). */
	items?: IDataObject[];
	/** The node the items go to, when not the first. */
	startAt?: string;
	credentials?: Record<string, ICredentialDataDecryptedObject>;
	/** manual (a test run in the editor, the default), webhook, trigger ... */
	mode?: WorkflowExecuteMode;
}

export interface EngineRun {
	run: IRun;
	/** The node's output items per output (its first run). */
	outputs(node: string): INodeExecutionData[][];
	/** The JSON of the node's output items per output. */
	json(node: string): IDataObject[][];
	/** The hints the node added while it ran. */
	hints(node: string): NodeHint[];
	/** The error that stopped the workflow, if one did. */
	error: Error | undefined;
	/** What nodes answered the webhook's caller with (sendResponse). */
	responses: IExecuteResponsePromiseData[];
	/** Credential reads during the run, by type. */
	credentialReads: string[];
	/** The nodes that ran, in order. */
	executed: string[];
}

/**
 * A workflow file (n8n's export format; a path from the repository's root) as a test workflow.
 * n8n's own nodes (schedule, error and webhook triggers) are left out: a test starts the workflow
 * at the node they feed (`startAt`) with the items they would emit. Respond to Webhook is kept as
 * a stand-in that answers nothing (RespondStandIn).
 */
export function workflowFile(path: string): WorkflowSpec {
	const workflow = JSON.parse(readFileSync(join(repoRoot, path), 'utf8')) as {
		id: string;
		nodes: (Omit<NodeSpec, 'credentials'> & { credentials?: Record<string, unknown> })[];
		connections: Record<string, { main: { node: string }[][] }>;
	};
	const ours = workflow.nodes.filter(
		({ type }) => type.startsWith(`${PACKAGE}.`) || type === RESPOND_TO_WEBHOOK,
	);
	const names = new Set(ours.map(({ name }) => name));
	return {
		id: workflow.id,
		nodes: ours.map(({ name, type, typeVersion, parameters, credentials }) => ({
			name,
			type,
			typeVersion,
			parameters,
			credentials: Object.keys(credentials ?? {}),
		})),
		connections: Object.fromEntries(
			Object.entries(workflow.connections)
				.filter(([source]) => names.has(source))
				.map(([source, { main }]) => [
					source,
					main.map((targets) =>
						targets.filter(({ node }) => names.has(node)).map(({ node }) => node),
					),
				]),
		),
	};
}

const START = 'Items';
let workflowCounter = 0;

function toNode(
	spec: NodeSpec,
	index: number,
	credentialTypes: string[],
	described: (type: string) => string[],
): INode {
	const type = spec.type.includes('.') ? spec.type : `${PACKAGE}.${spec.type}`;
	const attach = (spec.credentials ?? credentialTypes).filter((credential) =>
		described(type).includes(credential),
	);
	return {
		id: `node-${index}`,
		name: spec.name,
		type,
		typeVersion: spec.typeVersion,
		position: [index * 200, 0],
		parameters: structuredClone(spec.parameters ?? {}) as INode['parameters'],
		...(attach.length
			? {
					credentials: Object.fromEntries(
						attach.map((credential) => [
							credential,
							{ id: spec.credentialIds?.[credential] ?? `${credential}-1`, name: credential },
						]),
					),
				}
			: {}),
		...(spec.continueOnFail ? { continueOnFail: true } : {}),
		...(spec.onError ? { onError: spec.onError } : {}),
	};
}

function defaultConnections(names: string[]): Record<string, string[][]> {
	return Object.fromEntries(names.slice(0, -1).map((name, index) => [name, [[names[index + 1]!]]]));
}

/** Builds the engine's view of a test workflow, plus the run-time context the engine needs. */
async function prepare(spec: WorkflowSpec, options: RunOptions, start: NodeSpec | null) {
	const pkg = await packageLoader();
	const nodeTypes = new NodeTypes(pkg.nodeTypes);
	const described = (type: string) => {
		if (type in TEST_NODES) return [];
		const versioned = nodeTypes.getByName(type);
		const all = 'nodeVersions' in versioned ? Object.values(versioned.nodeVersions) : [versioned];
		return all.flatMap((node) => (node.description.credentials ?? []).map(({ name }) => name));
	};
	const credentials = options.credentials ?? {};
	const specs = start ? [start, ...spec.nodes] : spec.nodes;
	const nodes = specs.map((node, index) =>
		toNode(node, index, Object.keys(credentials), described),
	);
	const connections = spec.connections
		? {
				...spec.connections,
				...(start ? { [start.name]: [[options.startAt ?? spec.nodes[0]!.name]] } : {}),
			}
		: defaultConnections(specs.map(({ name }) => name));
	const workflow = new Workflow({
		id: spec.id ?? `test-workflow-${++workflowCounter}`,
		name: 'test',
		nodes,
		connections: Object.fromEntries(
			Object.entries(connections).map(([source, outputs]) => [
				source,
				{
					main: outputs.map((targets) =>
						targets.map((node) => ({ node, type: NodeConnectionTypes.Main, index: 0 })),
					),
				},
			]),
		),
		nodeTypes,
		active: false,
		settings: { executionOrder: 'v1' },
	});
	const credentialTypes = Object.fromEntries(
		Object.entries(pkg.credentialTypes).map(([name, { type }]) => [name, type]),
	);
	const credentialsHelper = new TestCredentialsHelper(credentialTypes, credentials);
	const mode = options.mode ?? 'manual';
	const hooks = new ExecutionLifecycleHooks(mode, 'exec-1', {
		id: workflow.id,
		name: 'test',
		active: false,
		isArchived: false,
		nodes,
		connections: workflow.connectionsBySourceNode,
		createdAt: new Date(0),
		updatedAt: new Date(0),
		activeVersionId: null,
	});
	const responses: IExecuteResponsePromiseData[] = [];
	hooks.addHandler('sendResponse', (response) => {
		responses.push(response);
	});
	const executed: string[] = [];
	hooks.addHandler('nodeExecuteAfter', (nodeName) => {
		executed.push(nodeName);
	});
	const additionalData = {
		executionId: 'exec-1',
		credentialsHelper,
		hooks,
		currentNodeExecutionIndex: 0,
		restApiUrl: 'http://localhost:5678/rest',
		instanceBaseUrl: 'http://localhost:5678/',
		formBaseUrl: 'http://localhost:5678/form',
		formWaitingBaseUrl: 'http://localhost:5678/form-waiting',
		formTestBaseUrl: 'http://localhost:5678/form-test',
		webhookBaseUrl: 'http://localhost:5678/webhook',
		webhookWaitingBaseUrl: 'http://localhost:5678/webhook-waiting',
		webhookTestBaseUrl: 'http://localhost:5678/webhook-test',
		mcpBaseUrl: 'http://localhost:5678/mcp',
		mcpTestBaseUrl: 'http://localhost:5678/mcp-test',
		variables: {},
		executeWorkflow: async () => {
			throw new Error('our nodes start no sub-workflow');
		},
		getRunExecutionData: async () => undefined,
		getRuntimeCredential: async () => undefined,
		logAiEvent: () => undefined,
		startRunnerTask: async () => {
			throw new Error('our nodes run no code task');
		},
	} as unknown as IWorkflowExecuteAdditionalData;
	return { workflow, additionalData, credentialsHelper, responses, executed, mode, nodes };
}

function result(
	run: IRun,
	context: Pick<
		Awaited<ReturnType<typeof prepare>>,
		'responses' | 'credentialsHelper' | 'executed'
	>,
): EngineRun {
	const task = (node: string): ITaskData => {
		const data = run.data.resultData.runData[node]?.[0];
		if (!data) {
			const ran = Object.keys(run.data.resultData.runData).join(', ');
			throw new Error(
				`The node "${node}" did not run (ran: ${ran}); error: ${run.data.resultData.error?.message}`,
			);
		}
		return data;
	};
	const outputs = (node: string) => (task(node).data?.main ?? []).map((output) => output ?? []);
	return {
		run,
		outputs,
		json: (node) => outputs(node).map((output) => output.map((item) => item.json)),
		hints: (node) => task(node).hints ?? [],
		error: run.data.resultData.error as Error | undefined,
		responses: context.responses,
		credentialReads: context.credentialsHelper.reads,
		executed: context.executed,
	};
}

/** Runs a workflow on n8n's engine; `items` come from a Test Items node in front of the first node. */
export async function runWorkflow(
	spec: WorkflowSpec,
	options: RunOptions = {},
): Promise<EngineRun> {
	const start: NodeSpec = {
		name: START,
		type: 'test.items',
		typeVersion: 1,
		parameters: { items: (options.items ?? [{}]) as unknown as IDataObject },
	};
	const context = await prepare(spec, options, start);
	const workflowExecute = new WorkflowExecute(context.additionalData, context.mode);
	const run = await workflowExecute.run({
		workflow: context.workflow,
		startNode: context.workflow.getNode(START)!,
	});
	return result(run, context);
}

/** One node of ours fed with the items: the common case. */
export async function runNode(
	node: Omit<NodeSpec, 'name'> & { name?: string },
	options: RunOptions = {},
): Promise<EngineRun> {
	return await runWorkflow({ nodes: [{ name: 'Node', ...node }] }, options);
}

export interface WebhookCall {
	/** What the webhook node returned to n8n's webhook server. */
	response: IWebhookResponseData;
	/** The execution it started, if it started one. */
	execution?: EngineRun;
	/** The webhook node's Respond setting as n8n resolves it (its default when the file has none). */
	responseMode?: string;
	/** Its description's responseData: `noData` answers with an empty body, as n8n does. */
	responseData?: string;
	/** Why the stand-in could not serve it (a bug in the test or the node). */
	failure?: Error;
}

export interface WebhookServer {
	/** The server's base URL: POST `${url}/webhook/<path>` as a lead source does. */
	url: string;
	/** Every request served, in the order they finished. */
	calls: WebhookCall[];
	/**
	 * Resolves once this many requests have been served in all, executions included (a node that
	 * answers the caller does so before the rest of its workflow has run).
	 */
	served(count: number): Promise<WebhookCall[]>;
	close(): Promise<void>;
}

/**
 * A stand-in for n8n's webhook server in front of a workflow: a request to `/webhook/<path>` is
 * served by the webhook node with that path the way n8n serves it: the body parsed as JSON
 * (n8n's body parser does that for JSON content types), the node's webhook() on n8n's
 * WebhookContext, then, when it emits items, the workflow run from that node on the engine. A node
 * that answers with sendResponse answers the request (Respond: By the Lead Intake Node).
 */
export async function startWebhookServer(
	workflow: WorkflowSpec,
	options: RunOptions = {},
): Promise<WebhookServer> {
	// one workflow for all its requests, as a published workflow is
	const spec = { ...workflow, id: workflow.id ?? `test-workflow-${++workflowCounter}` };
	const calls: WebhookCall[] = [];
	const waiting: { count: number; resolve: (calls: WebhookCall[]) => void }[] = [];
	const record = (call: WebhookCall) => {
		calls.push(call);
		for (const waiter of waiting.filter(({ count }) => calls.length >= count)) {
			waiting.splice(waiting.indexOf(waiter), 1);
			waiter.resolve(calls);
		}
	};
	const server = createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const raw = Buffer.concat(chunks).toString('utf8');
			// as n8n reads the type: lower-cased, cut at the first `;`, not trimmed; and it parses
			// JSON only for exactly `application/json` (anything else leaves the body `{}`)
			const contentType = request.headers['content-type']?.split(';', 1)[0]!.toLowerCase();
			// n8n's body parser keeps the bytes as they came (rawBody) beside the parsed body; a
			// multipart body n8n reads as a form itself, so its bytes are gone and reading them throws
			const multipart = contentType?.startsWith('multipart/') ?? false;
			Object.assign(request, {
				contentType,
				rawBody: multipart ? undefined : Buffer.concat(chunks),
				readRawBody: () =>
					Promise.reject(new Error('Request body stream was aborted or is not readable')),
				body: contentType === 'application/json' && raw ? (JSON.parse(raw) as unknown) : {},
			});
			serveWebhook(spec, request, response, options)
				.then((call) => {
					const lastNode = call.execution?.executed.at(-1);
					if (!response.headersSent && call.execution && call.responseMode === 'onReceived') {
						// Respond: When Received (n8n answers once the execution has started)
						if (call.responseData === 'noData') response.writeHead(200).end();
						else {
							response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
							response.end(JSON.stringify({ message: 'Workflow was started' }));
						}
					}
					if (!response.headersSent && lastNode && call.responseMode === 'lastNode') {
						// Respond: When Last Node Finishes (n8n answers with the first item's JSON, or with
						// nothing under responseData noData)
						if (call.responseData === 'noData') response.writeHead(200).end();
						else {
							response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
							response.end(JSON.stringify(call.execution!.json(lastNode).flat()[0] ?? {}));
						}
					}
					if (!response.headersSent) {
						response.writeHead(500, { 'content-type': 'text/plain' });
						response.end('no node answered');
					}
					record(call);
				})
				.catch((error: Error) => {
					if (!response.headersSent) {
						response.writeHead(500, { 'content-type': 'text/plain' });
						response.end(`the webhook failed: ${error.message}`);
					}
					record({ response: {}, failure: error });
				});
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		calls,
		served: (count) =>
			calls.length >= count
				? Promise.resolve(calls)
				: new Promise((resolve) => waiting.push({ count, resolve })),
		close: () =>
			new Promise<void>((resolve, reject) => {
				server.closeAllConnections();
				server.close((error) => (error ? reject(error) : resolve()));
			}),
	};
}

const webhookPath = (request: IncomingMessage) =>
	new URL(request.url ?? '/', 'http://n8n').pathname.replace(/^\/webhook\//, '');

async function serveWebhook(
	spec: WorkflowSpec,
	request: IncomingMessage,
	response: ServerResponse,
	options: RunOptions,
): Promise<WebhookCall> {
	const context = await prepare(spec, { mode: 'webhook', ...options }, null);
	const { workflow, additionalData } = context;
	const path = webhookPath(request);
	const node = context.nodes.find(
		(candidate) => candidate.parameters.path === path && !candidate.disabled,
	);
	if (!node) throw new Error(`No webhook node with the path ${path}`);
	const nodeType = workflow.nodeTypes.getByNameAndVersion(node.type, node.typeVersion);
	const [webhookDescription] = nodeType.description.webhooks ?? [];
	additionalData.httpRequest = request as never;
	additionalData.httpResponse = response as never;
	const webhookContext = new WebhookContext(
		workflow,
		node,
		additionalData,
		context.mode,
		{
			httpMethod: webhookDescription!.httpMethod as IHttpRequestMethods,
			node: node.name,
			path,
			webhookDescription: webhookDescription!,
			workflowId: workflow.id,
			workflowExecuteAdditionalData: additionalData,
		},
		[],
		null,
	);
	const responseMode = String(webhookContext.getNodeParameter('responseMode', 'onReceived'));
	const responseData = webhookDescription!.responseData as string | undefined;
	const answer = await nodeType.webhook!.call(webhookContext);
	if (answer.noWebhookResponse || !answer.workflowData) return { response: answer, responseMode };
	additionalData.hooks!.addHandler('sendResponse', ({ statusCode, headers, body }) => {
		response.writeHead(Number(statusCode ?? 200), headers as Record<string, string>);
		response.end(typeof body === 'string' ? body : JSON.stringify(body));
	});
	const runExecutionData: IRunExecutionData = createRunExecutionData({
		executionData: {
			nodeExecutionStack: [{ node, data: { main: answer.workflowData }, source: null }],
		},
	});
	const workflowExecute = new WorkflowExecute(additionalData, context.mode, runExecutionData);
	const run = await workflowExecute.processRunExecutionData(workflow);
	return { response: answer, responseMode, responseData, execution: result(run, context) };
}

/**
 * Waits until n8n's log file (N8N_LOG_FILE_LOCATION, set by environment.ts) holds a line that
 * matches; n8n's logger writes it asynchronously. Fails with what the log holds after the deadline.
 */
export async function n8nLogLine(pattern: RegExp, deadlineMs = 5000): Promise<string> {
	const file = process.env.N8N_LOG_FILE_LOCATION!;
	const giveUpAt = Date.now() + deadlineMs;
	for (;;) {
		const log = await readFile(file, 'utf8').catch(() => '');
		const line = log.split('\n').find((candidate) => pattern.test(candidate));
		if (line) return line;
		if (Date.now() > giveUpAt) {
			throw new Error(`n8n's log has no line matching ${pattern} after ${deadlineMs} ms:\n${log}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}

/** A credential test of one of our nodes (methods.credentialTest), on n8n's credential test context. */
export async function testCredential(
	nodeType: string,
	testName: string,
	data: IDataObject,
): Promise<INodeCredentialTestResult> {
	const pkg = await packageLoader();
	const type = NodeHelpers.getVersionedNodeType(pkg.nodeTypes[nodeType]!.type);
	const test = type.methods!.credentialTest![testName]!;
	const context = new CredentialTestContext({} as IWorkflowExecuteAdditionalData);
	return await test.call(context, { data } as ICredentialsDecrypted);
}
