import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	INodeType,
	INodeTypeDescription,
	JsonObject,
	ResolvedFilePath,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { alertFileName, buildAlert, type Alert, type Severity } from './alert';
import { fromResult } from './from-result';

const CREDENTIAL = 'leadIntakeJiraConfluenceApi';
/** Where alert files go when neither the node nor n8n's ALERTS_DIR says otherwise. */
const DEFAULT_DIRECTORY = 'alerts';
/** O_EXCL as Linux (n8n's platform) defines it: the community-node lint forbids importing fs.constants. */
const CREATE_ONLY = 0o200;

type Destination = 'file' | 'jiraAlert' | 'jiraLog';

const V1 = { '@version': [1] };
const V2 = { '@version': [{ _cnd: { gte: 2 } }] };

/** A value the node takes from the Lead Intake result unless the operator writes it here. */
function fromResultOrCustom(
	label: string,
	name: string,
	custom: Omit<INodeProperties, 'displayName' | 'name' | 'displayOptions'>,
	fromResultDescription: string,
): INodeProperties[] {
	const source = `${name}From`;
	const customName = `custom${name[0]!.toUpperCase()}${name.slice(1)}`;
	return [
		{
			displayName: label,
			name: source,
			type: 'options',
			options: [
				{
					name: 'From the Lead Intake Result',
					value: 'result',
					description: fromResultDescription,
				},
				{ name: 'Custom', value: 'custom', description: `Write the ${label.toLowerCase()} here` },
			],
			default: 'result',
			description: `Where the alert's ${label.toLowerCase()} comes from`,
			displayOptions: { show: V2 },
		},
		{
			...custom,
			displayName: `Custom ${label}`,
			name: customName,
			displayOptions: { show: { ...V2, [source]: ['custom'] } },
		} as INodeProperties,
	];
}

export class AlertRouter implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Alert Router',
		name: 'alertRouter',
		icon: {
			light: 'file:../../icons/alertRouter.svg',
			dark: 'file:../../icons/alertRouter.dark.svg',
		},
		group: ['output'],
		version: [1, 2],
		defaultVersion: 2,
		subtitle: '={{ $parameter["deliverTo"].join(" + ") }}',
		description:
			'Turn a rejected or failed lead (or a workflow error) into a readable alert: a file and/or a Jira/Confluence entry',
		defaults: { name: 'Alert Router' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [
			{
				name: CREDENTIAL,
				required: true,
				displayOptions: { show: { deliverTo: ['jiraAlert', 'jiraLog'] } },
			},
		],
		hints: [
			{
				message:
					'Each item passes through with <b>alert</b> (what was written, personal data masked) and <b>alert_file</b> (the file name in the alerts directory) added',
				type: 'info',
				location: 'outputPane',
				whenToDisplay: 'beforeExecution',
			},
		],
		properties: [
			{
				displayName: 'Deliver To',
				name: 'deliverTo',
				type: 'multiOptions',
				options: [
					{
						name: 'Alert File',
						value: 'file',
						description:
							'A new JSON file in the alerts directory (the opening alert of an incident)',
					},
					{ name: 'Jira/Confluence Alert', value: 'jiraAlert', description: 'POST to /alert' },
					{ name: 'Jira/Confluence Log', value: 'jiraLog', description: 'POST to /log' },
				],
				default: ['file'],
				description: 'Where the alert goes; any combination',
			},
			{
				displayName: 'Alerts Directory',
				name: 'alertsDirectory',
				type: 'string',
				default: '={{ $env.ALERTS_DIR || "alerts" }}',
				description:
					'Where alert files go; n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO)',
				displayOptions: { show: { ...V1, deliverTo: ['file'] } },
			},
			{
				displayName: 'Alerts Directory',
				name: 'alertsDirectory',
				type: 'string',
				default: '',
				placeholder: 'ALERTS_DIR, else alerts',
				description:
					"Where alert files go. Empty: n8n's ALERTS_DIR environment variable, else the folder alerts in n8n's working directory.",
				hint: 'n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO)',
				displayOptions: { show: { ...V2, deliverTo: ['file'] } },
			},
			{
				displayName: 'Severity',
				name: 'severity',
				type: 'options',
				options: [
					{
						name: 'Automatic',
						value: 'auto',
						description: 'Dead: critical; failed, 401, 409, 5xx: high; rejected: info',
					},
					{ name: 'Critical', value: 'critical' },
					{ name: 'High', value: 'high' },
					{ name: 'Info', value: 'info' },
					{ name: 'Warning', value: 'warning' },
				],
				default: 'auto',
				description: 'How urgent the alert is',
			},
			{
				displayName: 'Run ID',
				name: 'runId',
				type: 'string',
				default: '={{ $json.run_id ?? $json.response?.run_id ?? $json.execution?.id ?? "" }}',
				description: 'Names the alert file; an execution ID is used for workflow errors',
				displayOptions: { show: V1 },
			},
			{
				displayName: 'Status Code',
				name: 'statusCode',
				type: 'string',
				default: '={{ $json.statusCode ?? 0 }}',
				description: "The processor's HTTP status",
				displayOptions: { show: V1 },
			},
			{
				displayName: 'Reason',
				name: 'reason',
				type: 'string',
				default:
					'={{ $json.response?.reasons?.join(", ") ?? $json.response?.reason ?? $json.response?.code ?? $json.execution?.error?.message ?? $json.outcome ?? "unknown" }}',
				description: 'Why the alert was raised',
				displayOptions: { show: V1 },
			},
			{
				displayName: 'Payload',
				name: 'payload',
				type: 'json',
				default: '={{ $json.lead ?? $json }}',
				description: 'What the alert shows of the lead; personal data is always masked',
				displayOptions: { show: V1 },
			},
			...fromResultOrCustom(
				'Run ID',
				'runId',
				{ type: 'string', default: '', description: 'Names the alert file' },
				"The lead's run ID; for a workflow error, the execution ID",
			),
			...fromResultOrCustom(
				'Reason',
				'reason',
				{ type: 'string', default: '', description: 'Why the alert was raised, in a few words' },
				"The processor's reasons or error code; for a workflow error, its message",
			),
			...fromResultOrCustom(
				'Payload',
				'payload',
				{
					type: 'json',
					default: '{}',
					description: 'What the alert shows; personal data is always masked',
				},
				'The lead as submitted (personal data masked); otherwise the whole item',
			),
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const version = this.getNode().typeVersion;
		const results: INodeExecutionData[] = [];
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const json = items[itemIndex]!.json;
				const content =
					version >= 2 ? contentV2.call(this, json, itemIndex) : contentV1.call(this, itemIndex);
				const alert = buildAlert(
					{
						...content,
						severity: this.getNodeParameter('severity', itemIndex, 'auto') as Severity | 'auto',
						outcome: typeof json.outcome === 'string' ? json.outcome : null,
						response: json.response ?? null,
					},
					new Date(),
				);
				const deliverTo = this.getNodeParameter('deliverTo', itemIndex, []) as Destination[];
				const delivered: IDataObject = {};
				if (deliverTo.includes('file')) {
					const directory = await alertsDirectory.call(this, version, itemIndex);
					delivered.alert_file = await writeAlertFile.call(this, directory, alert);
				}
				for (const destination of deliverTo.filter((item) => item !== 'file')) {
					delivered[destination] = await postToJira.call(
						this,
						destination === 'jiraAlert' ? '/alert' : '/log',
						alert,
						itemIndex,
					);
				}
				results.push({
					json: { ...json, alert: alert as unknown as IDataObject, ...delivered },
					pairedItem: { item: itemIndex },
				});
			} catch (error) {
				if (!this.continueOnFail()) {
					throw error instanceof NodeApiError || error instanceof NodeOperationError
						? error
						: new NodeOperationError(this.getNode(), error as Error, { itemIndex });
				}
				results.push({
					json: { ...items[itemIndex]!.json, alert_error: (error as Error).message },
					pairedItem: { item: itemIndex },
				});
			}
		}
		return [results];
	}
}

interface AlertContent {
	runId: string;
	statusCode: number;
	reason: string;
	payload: unknown;
}

function contentV1(this: IExecuteFunctions, itemIndex: number): AlertContent {
	return {
		runId: String(this.getNodeParameter('runId', itemIndex, '')),
		statusCode: Number(this.getNodeParameter('statusCode', itemIndex, 0)) || 0,
		reason: String(this.getNodeParameter('reason', itemIndex, 'unknown')),
		payload: this.getNodeParameter('payload', itemIndex, {}),
	};
}

function contentV2(this: IExecuteFunctions, json: IDataObject, itemIndex: number): AlertContent {
	const derived = fromResult(json);
	const custom = (name: string) =>
		this.getNodeParameter(`${name}From`, itemIndex, 'result') === 'custom'
			? this.getNodeParameter(`custom${name[0]!.toUpperCase()}${name.slice(1)}`, itemIndex, '')
			: undefined;
	const runId = custom('runId');
	const reason = custom('reason');
	const payload = custom('payload');
	return {
		runId: runId === undefined ? derived.runId : String(runId).trim(),
		statusCode: derived.statusCode,
		reason: reason === undefined ? derived.reason : String(reason).trim() || 'unknown',
		payload: payload === undefined ? derived.payload : parsePayload.call(this, payload, itemIndex),
	};
}

function parsePayload(this: IExecuteFunctions, payload: unknown, itemIndex: number): unknown {
	if (typeof payload !== 'string') return payload;
	try {
		return JSON.parse(payload) as unknown;
	} catch (error) {
		throw new NodeOperationError(this.getNode(), 'Custom Payload is not valid JSON', {
			description: (error as Error).message,
			itemIndex,
		});
	}
}

/**
 * Version 2: the node's own setting, else n8n's ALERTS_DIR, else `alerts`. ALERTS_DIR is read
 * through n8n's `$env`, so the instance's policy on environment access applies
 * (N8N_BLOCK_ENV_ACCESS_IN_NODE): where it is blocked, the directory is set in the node.
 */
async function alertsDirectory(
	this: IExecuteFunctions,
	version: number,
	itemIndex: number,
): Promise<string> {
	const configured = String(this.getNodeParameter('alertsDirectory', itemIndex, '') ?? '').trim();
	if (configured || version < 2) return configured || DEFAULT_DIRECTORY;
	let fromEnvironment: unknown;
	try {
		fromEnvironment = this.evaluateExpression('{{ $env.ALERTS_DIR }}', itemIndex);
	} catch {
		fromEnvironment = undefined; // environment access is blocked on this instance
	}
	return typeof fromEnvironment === 'string' && fromEnvironment.trim()
		? fromEnvironment.trim()
		: DEFAULT_DIRECTORY;
}

/**
 * Creates the alert file, never over another one: the name is claimed with a create-only open,
 * so of two alerts racing for one name, one gets it and the other moves on to `-2`, `-3` ...
 */
async function writeAlertFile(
	this: IExecuteFunctions,
	directory: string,
	alert: Alert,
): Promise<string> {
	const content = `${JSON.stringify(alert, null, 2)}\n`;
	const when = new Date(alert.created_at);
	// the folder's real path: n8n resolves a folder that does not exist yet within its parent, and
	// the first copy creates it
	const folder = await this.helpers.resolvePath(directory.replace(/\/+$/, ''));
	for (let copy = 1; copy < 100; copy++) {
		const name = alertFileName(when, alert.run_id ?? 'alert', copy);
		const target = `${folder}/${name}` as ResolvedFilePath;
		if (copy === 1) await this.helpers.ensureParentDirectoryWithoutFollowingSymlinks(target);
		try {
			await this.helpers.writeContentToFile(target, content, CREATE_ONLY);
			return name;
		} catch (error) {
			if ((error as { code?: string }).code === 'EEXIST') continue;
			throw new NodeOperationError(this.getNode(), error as Error, {
				message: `Cannot write the alert file ${target}`,
			});
		}
	}
	throw new NodeOperationError(this.getNode(), `Too many alerts for ${alert.run_id} in one second`);
}

async function postToJira(
	this: IExecuteFunctions,
	path: string,
	alert: Alert,
	itemIndex: number,
): Promise<IDataObject> {
	const credentials = await this.getCredentials(CREDENTIAL);
	const baseUrl = String(credentials.baseUrl).replace(/\/+$/, '');
	try {
		return (await this.helpers.httpRequestWithAuthentication.call(this, CREDENTIAL, {
			method: 'POST',
			url: `${baseUrl}${path}`,
			body: alert,
			json: true,
		})) as IDataObject;
	} catch (error) {
		throw new NodeApiError(this.getNode(), error as JsonObject, {
			message: `Jira/Confluence did not take the alert at ${path}`,
			itemIndex,
		});
	}
}
