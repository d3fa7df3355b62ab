import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	INodeType,
	INodeTypeBaseDescription,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import {
	CREDENTIAL as PROCESSOR_CREDENTIAL,
	internalCall,
	processorCall,
	type ProcessorCredentials,
} from '../../LeadIntake/processor';
import { buildAlert, type Alert, type Severity } from '../alert';
import {
	CREDENTIAL as JIRA_CREDENTIAL,
	postToJira,
	severityParameter,
	writeAlertFile,
} from '../deliver';
import { workflowErrorOf } from '../from-result';
import { fromResultOrCustom, version2 } from '../v2/AlertRouterV2';
import { processorAlert } from './processor-alert';

/*
 * Version 3: the alert goes to targets, each on its own (one that fails does not stop the others).
 * The default target is the processor (POST /internal/alerts), the one writer every execution
 * reaches, so the alert file lands in one folder whichever n8n process or machine ran the
 * execution; no environment variable is read. Writing the file from n8n stays as a target for a
 * self-hosted single-machine setup, into the folder set in the node.
 */

type Target = 'processor' | 'jiraAlert' | 'jiraLog' | 'file';

const targetsParameter: INodeProperties = {
	displayName: 'Send To',
	name: 'targets',
	type: 'multiOptions',
	options: [
		{
			name: 'Processor (Alert File and Index)',
			value: 'processor',
			description:
				'The processor writes the alert file and its alerts/index.md entry, whichever n8n machine runs the workflow (Lead Intake Processor API credential)',
		},
		{ name: 'Jira/Confluence Alert', value: 'jiraAlert', description: 'POST to /alert' },
		{ name: 'Jira/Confluence Log', value: 'jiraLog', description: 'POST to /log' },
		{
			name: 'Alert File on the Machine That Runs It',
			value: 'file',
			description:
				'A new JSON file in a folder of the machine that runs the execution: for a single-machine, self-hosted n8n only',
		},
	],
	default: ['processor'],
	description: 'Where the alert goes; any combination, each independent of the others',
};

const folderParameter: INodeProperties = {
	displayName: 'Alerts Folder',
	name: 'alertsFolder',
	type: 'string',
	default: 'alerts',
	required: true,
	description:
		"The folder on the machine that runs the execution (relative: to n8n's working directory)",
	hint: 'n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO); in queue mode each worker writes to its own disk',
	displayOptions: { show: { targets: ['file'] } },
};

export class AlertRouterV3 implements INodeType {
	description: INodeTypeDescription;

	constructor(baseDescription: INodeTypeBaseDescription) {
		this.description = {
			...baseDescription,
			version: 3,
			subtitle: '={{ $parameter["targets"].join(" + ") }}',
			defaults: { name: 'Alert Router' },
			inputs: [NodeConnectionTypes.Main],
			outputs: [NodeConnectionTypes.Main],
			usableAsTool: true,
			credentials: [
				{
					name: PROCESSOR_CREDENTIAL,
					required: true,
					displayOptions: { show: { targets: ['processor'] } },
				},
				{
					name: JIRA_CREDENTIAL,
					required: true,
					displayOptions: { show: { targets: ['jiraAlert', 'jiraLog'] } },
				},
			],
			hints: [
				{
					message:
						'Each item passes through with <b>alert</b> (personal data masked), <b>alert_id</b>, <b>alert_file</b> (the file the processor or n8n wrote) and, for a target that failed, <b>alert_errors</b>',
					type: 'info',
					location: 'outputPane',
					whenToDisplay: 'beforeExecution',
				},
			],
			properties: [
				targetsParameter,
				folderParameter,
				severityParameter,
				...fromResultOrCustom(
					'Run ID',
					'runId',
					{ type: 'string', default: '', description: 'Names the alert file' },
					"The lead's run ID; for a workflow error, the execution ID",
				),
				...fromResultOrCustom(
					'Reason',
					'reason',
					{
						type: 'string',
						default: '',
						description: 'Why the alert was raised, in a few words',
					},
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
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const results: INodeExecutionData[] = [];
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			const json = items[itemIndex]!.json;
			let alert: Alert;
			let alertId: string;
			try {
				alert = buildAlert(
					{
						...version2.content.call(this, json, itemIndex),
						severity: this.getNodeParameter('severity', itemIndex, 'auto') as Severity | 'auto',
						outcome: typeof json.outcome === 'string' ? json.outcome : null,
						response: json.response ?? null,
						workflowError: workflowErrorOf(json),
					},
					new Date(),
				);
				alertId = alertIdOf(json, alert, this.getExecutionId(), itemIndex);
			} catch (error) {
				if (!this.continueOnFail()) throw asNodeError.call(this, error, itemIndex);
				results.push({
					json: { ...json, alert_error: (error as Error).message },
					pairedItem: { item: itemIndex },
				});
				continue;
			}
			const targets = this.getNodeParameter('targets', itemIndex, []) as Target[];
			const delivered: IDataObject = {};
			const errors: IDataObject = {};
			let firstError: unknown = null;
			// each target on its own: one that fails does not keep the alert from the others
			for (const target of targets) {
				try {
					Object.assign(delivered, await deliver.call(this, target, alert, alertId, itemIndex));
				} catch (error) {
					firstError ??= error;
					errors[target] = (error as Error).message;
				}
			}
			if (firstError !== null && !this.continueOnFail()) {
				throw asNodeError.call(this, firstError, itemIndex);
			}
			results.push({
				json: {
					...json,
					alert: alert as unknown as IDataObject,
					alert_id: alertId,
					...delivered,
					...(firstError !== null
						? { alert_error: (firstError as Error).message, alert_errors: errors }
						: {}),
				},
				pairedItem: { item: itemIndex },
			});
		}
		return [results];
	}
}

async function deliver(
	this: IExecuteFunctions,
	target: Target,
	alert: Alert,
	alertId: string,
	itemIndex: number,
): Promise<IDataObject> {
	switch (target) {
		case 'processor': {
			const credentials = (await this.getCredentials(
				PROCESSOR_CREDENTIAL,
				itemIndex,
			)) as unknown as ProcessorCredentials;
			const answer = await internalCall(
				this,
				processorCall(this, credentials),
				{
					method: 'POST',
					path: '/internal/alerts',
					body: JSON.stringify(processorAlert(alert, alertId)),
				},
				itemIndex,
			);
			return { alert_file: answer.file, processor: answer };
		}
		case 'file': {
			const folder = String(this.getNodeParameter('alertsFolder', itemIndex, '') ?? '').trim();
			if (!folder) {
				throw new NodeOperationError(this.getNode(), 'Set the Alerts Folder', { itemIndex });
			}
			return { alert_file: await writeAlertFile.call(this, folder, alert) };
		}
		case 'jiraAlert':
		case 'jiraLog':
			return {
				[target]: await postToJira.call(
					this,
					target === 'jiraAlert' ? '/alert' : '/log',
					alert,
					itemIndex,
					alertId,
				),
			};
	}
}

/**
 * The processor's refusals of a key that name the run already holding it, not this lead's own:
 * an alert named after that run would be taken for that run's own, and dropped as a repeat.
 */
const REFUSALS_NAMING_ANOTHER_RUN = new Set(['request_in_progress', 'idempotency_key_reused']);

/**
 * Names the alert for the processor, so a repeat writes nothing twice: the outcome event's id when
 * the item is one, else `<outcome>:<run id>` for the lead's own run, else the execution (the
 * failed one an Error Trigger reports, else this one and the item). Never a value the lead's
 * source chose (its correlation id): two leads would share one alert, and the second be dropped.
 */
export function alertIdOf(
	json: IDataObject,
	alert: Alert,
	executionId: string,
	itemIndex = 0,
): string {
	const headers = object(json.headers);
	const eventId = firstText(json['webhook-id'], headers['webhook-id'], json.event_id, json.id);
	const outcome = alert.outcome ?? (typeof json.type === 'string' ? json.type : null);
	const ownRun = REFUSALS_NAMING_ANOTHER_RUN.has(String(object(json.response).code))
		? null
		: alert.run_id;
	const id =
		eventId ??
		(outcome && ownRun ? `${outcome}:${ownRun}` : null) ??
		firstText(object(json.execution).id) ??
		// several alerts of one execution are several alerts
		`${executionId}:${itemIndex}`;
	return id.replace(/[^A-Za-z0-9._:@-]/g, '_').slice(0, 200);
}

function asNodeError(this: IExecuteFunctions, error: unknown, itemIndex: number): Error {
	return error instanceof NodeApiError || error instanceof NodeOperationError
		? error
		: new NodeOperationError(this.getNode(), error as Error, { itemIndex });
}

function object(value: unknown): IDataObject {
	return value !== null && typeof value === 'object' && !Array.isArray(value)
		? (value as IDataObject)
		: {};
}

function firstText(...values: unknown[]): string | null {
	for (const value of values) {
		if ((typeof value === 'string' && value.trim() !== '') || typeof value === 'number') {
			return String(value).trim();
		}
	}
	return null;
}
