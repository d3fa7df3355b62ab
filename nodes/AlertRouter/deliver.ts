import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	INodeTypeBaseDescription,
	INodeTypeDescription,
	JsonObject,
	ResolvedFilePath,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { alertFileName, buildAlert, type Alert, type Severity } from './alert';

/*
 * What every version of the Alert Router does with an alert: build it (masked), write it to a new
 * file and/or post it to Jira/Confluence, pass the item on. What the alert says and where the file
 * goes are each version's own (v1/, v2/).
 */

export const CREDENTIAL = 'leadIntakeJiraConfluenceApi';
/** Where alert files go when neither the node nor n8n's ALERTS_DIR says otherwise. */
export const DEFAULT_DIRECTORY = 'alerts';
/** O_EXCL as Linux (n8n's platform) defines it: the community-node lint forbids importing fs.constants. */
const CREATE_ONLY = 0o200;

type Destination = 'file' | 'jiraAlert' | 'jiraLog';

/** What the alert of one item says, as a version reads it. */
export interface AlertContent {
	runId: string;
	statusCode: number;
	reason: string;
	payload: unknown;
}

/** One version's reading of an item, and where its alert files go. */
export interface AlertVersion {
	content(this: IExecuteFunctions, json: IDataObject, itemIndex: number): AlertContent;
	directory(this: IExecuteFunctions, itemIndex: number): Promise<string>;
}

/** Deliver To (the first parameter of every version). */
export const deliverToParameter: INodeProperties = {
	displayName: 'Deliver To',
	name: 'deliverTo',
	type: 'multiOptions',
	options: [
		{
			name: 'Alert File',
			value: 'file',
			description: 'A new JSON file in the alerts directory (the opening alert of an incident)',
		},
		{ name: 'Jira/Confluence Alert', value: 'jiraAlert', description: 'POST to /alert' },
		{ name: 'Jira/Confluence Log', value: 'jiraLog', description: 'POST to /log' },
	],
	default: ['file'],
	description: 'Where the alert goes; any combination',
};

export const severityParameter: INodeProperties = {
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
};

/** Everything of a version's description but its version and parameters. */
export function alertRouterDescription(
	baseDescription: INodeTypeBaseDescription,
	version: INodeTypeDescription['version'],
	properties: INodeProperties[],
): INodeTypeDescription {
	return {
		...baseDescription,
		version,
		subtitle: '={{ $parameter["deliverTo"].join(" + ") }}',
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
		properties,
	};
}

/**
 * Builds and delivers one alert per item. With Continue On Fail an item whose alert could not be
 * delivered passes with `alert_error` and the others go on.
 */
export async function routeAlerts(
	this: IExecuteFunctions,
	version: AlertVersion,
): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const results: INodeExecutionData[] = [];
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const json = items[itemIndex]!.json;
			const alert = buildAlert(
				{
					...version.content.call(this, json, itemIndex),
					severity: this.getNodeParameter('severity', itemIndex, 'auto') as Severity | 'auto',
					outcome: typeof json.outcome === 'string' ? json.outcome : null,
					response: json.response ?? null,
				},
				new Date(),
			);
			const deliverTo = this.getNodeParameter('deliverTo', itemIndex, []) as Destination[];
			const delivered: IDataObject = {};
			if (deliverTo.includes('file')) {
				const directory = await version.directory.call(this, itemIndex);
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

/**
 * Creates the alert file, never over another one: the name is claimed with a create-only open,
 * so of two alerts racing for one name, one gets it and the other moves on to `-2`, `-3` ...
 */
export async function writeAlertFile(
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

/** A Jira/Confluence that does not answer fails the item after this, not after n8n's 5 minutes. */
export const JIRA_TIMEOUT_MS = 30_000;

/**
 * Posts the alert. With an alert id (version 3) the post carries it as `Idempotency-Key` and in the
 * body: an outcome event is delivered at least once, and a receiver that keeps the first entry per
 * key opens one ticket however often the event is sent again.
 */
export async function postToJira(
	this: IExecuteFunctions,
	path: string,
	alert: Alert,
	itemIndex: number,
	alertId?: string,
): Promise<IDataObject> {
	const credentials = await this.getCredentials(CREDENTIAL);
	const baseUrl = String(credentials.baseUrl).replace(/\/+$/, '');
	try {
		return (await this.helpers.httpRequestWithAuthentication.call(this, CREDENTIAL, {
			method: 'POST',
			url: `${baseUrl}${path}`,
			body: alertId === undefined ? alert : { ...alert, alert_id: alertId },
			...(alertId === undefined ? {} : { headers: { 'Idempotency-Key': alertId } }),
			json: true,
			timeout: JIRA_TIMEOUT_MS,
		})) as IDataObject;
	} catch (error) {
		throw new NodeApiError(this.getNode(), error as JsonObject, {
			message: `Jira/Confluence did not take the alert at ${path}`,
			itemIndex,
		});
	}
}
