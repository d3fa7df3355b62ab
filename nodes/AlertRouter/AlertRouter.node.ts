import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	JsonObject,
	ResolvedFilePath,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { alertFileName, buildAlert, type Alert, type Severity } from './alert';

const CREDENTIAL = 'leadIntakeJiraConfluenceApi';

type Destination = 'file' | 'jiraAlert' | 'jiraLog';

export class AlertRouter implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Alert Router',
		name: 'alertRouter',
		icon: {
			light: 'file:../../icons/alertRouter.svg',
			dark: 'file:../../icons/alertRouter.dark.svg',
		},
		group: ['output'],
		version: 1,
		subtitle: '={{ $parameter["deliverTo"].join(" + ") }}',
		description:
			'Turn an item into a readable alert, write it as a file and/or post it to Jira/Confluence',
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
		properties: [
			{
				displayName: 'Deliver To',
				name: 'deliverTo',
				type: 'multiOptions',
				options: [
					{ name: 'Alert File', value: 'file', description: 'A JSON file in the alerts directory' },
					{ name: 'Jira/Confluence Alert', value: 'jiraAlert', description: 'POST to /alert' },
					{ name: 'Jira/Confluence Log', value: 'jiraLog', description: 'POST to /log' },
				],
				default: ['file'],
			},
			{
				displayName: 'Alerts Directory',
				name: 'alertsDirectory',
				type: 'string',
				default: '={{ $env.ALERTS_DIR || "alerts" }}',
				description:
					'Where alert files go; n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO)',
				displayOptions: { show: { deliverTo: ['file'] } },
			},
			{
				displayName: 'Severity',
				name: 'severity',
				type: 'options',
				options: [
					{ name: 'Automatic', value: 'auto', description: 'From the outcome and status code' },
					{ name: 'Critical', value: 'critical' },
					{ name: 'High', value: 'high' },
					{ name: 'Info', value: 'info' },
					{ name: 'Warning', value: 'warning' },
				],
				default: 'auto',
			},
			{
				displayName: 'Run ID',
				name: 'runId',
				type: 'string',
				default: '={{ $json.run_id ?? $json.response?.run_id ?? $json.execution?.id ?? "" }}',
				description: 'Names the alert file; an execution ID is used for workflow errors',
			},
			{
				displayName: 'Status Code',
				name: 'statusCode',
				type: 'string',
				default: '={{ $json.statusCode ?? 0 }}',
			},
			{
				displayName: 'Reason',
				name: 'reason',
				type: 'string',
				default:
					'={{ $json.response?.reasons?.join(", ") ?? $json.response?.reason ?? $json.response?.code ?? $json.execution?.error?.message ?? $json.outcome ?? "unknown" }}',
			},
			{
				displayName: 'Payload',
				name: 'payload',
				type: 'json',
				default: '={{ $json.lead ?? $json }}',
				description: 'What the alert shows of the lead; e-mail addresses are always masked',
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const results: INodeExecutionData[] = [];
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const json = items[itemIndex]!.json;
				const alert = buildAlert(
					{
						runId: String(this.getNodeParameter('runId', itemIndex, '')),
						statusCode: Number(this.getNodeParameter('statusCode', itemIndex, 0)) || 0,
						reason: String(this.getNodeParameter('reason', itemIndex, 'unknown')),
						severity: this.getNodeParameter('severity', itemIndex, 'auto') as Severity | 'auto',
						outcome: typeof json.outcome === 'string' ? json.outcome : null,
						response: json.response ?? null,
						payload: this.getNodeParameter('payload', itemIndex, {}),
					},
					new Date(),
				);
				const deliverTo = this.getNodeParameter('deliverTo', itemIndex, []) as Destination[];
				const delivered: IDataObject = {};
				if (deliverTo.includes('file')) {
					const directory = String(this.getNodeParameter('alertsDirectory', itemIndex));
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

/** Writes the alert beside the others, never over one: a name already taken gets `-2`, `-3` ... */
async function writeAlertFile(
	this: IExecuteFunctions,
	directory: string,
	alert: Alert,
): Promise<string> {
	const content = `${JSON.stringify(alert, null, 2)}\n`;
	const when = new Date(alert.created_at);
	for (let copy = 1; copy < 100; copy++) {
		const name = alertFileName(when, alert.run_id ?? 'alert', copy);
		const target: ResolvedFilePath = await this.helpers.resolvePath(
			`${directory.replace(/\/+$/, '')}/${name}`,
		);
		if (await exists.call(this, target)) continue;
		await this.helpers.ensureParentDirectoryWithoutFollowingSymlinks(target);
		await this.helpers.writeContentToFile(target, content);
		return name;
	}
	throw new NodeOperationError(this.getNode(), `Too many alerts for ${alert.run_id} in one second`);
}

async function exists(this: IExecuteFunctions, target: ResolvedFilePath): Promise<boolean> {
	try {
		const stream = await this.helpers.createReadStream(target);
		stream.destroy();
		return true;
	} catch (error) {
		if ((error as { code?: string }).code === 'ENOENT') return false;
		throw new NodeOperationError(this.getNode(), error as Error, {
			message: `Cannot check the alert file ${target}`,
		});
	}
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
