import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeBaseDescription,
	INodeTypeDescription,
} from 'n8n-workflow';
import {
	alertRouterDescription,
	DEFAULT_DIRECTORY,
	deliverToParameter,
	routeAlerts,
	severityParameter,
	type AlertContent,
	type AlertVersion,
} from '../deliver';

/**
 * Version 1 as it shipped, for old workflow files: what the alert says and where its file goes are
 * expression parameters (evaluated by n8n per item).
 */
const version1: AlertVersion = {
	content(this: IExecuteFunctions, _json: IDataObject, itemIndex: number): AlertContent {
		return {
			runId: String(this.getNodeParameter('runId', itemIndex, '')),
			statusCode: Number(this.getNodeParameter('statusCode', itemIndex, 0)) || 0,
			reason: String(this.getNodeParameter('reason', itemIndex, 'unknown')),
			payload: this.getNodeParameter('payload', itemIndex, {}),
		};
	},
	async directory(this: IExecuteFunctions, itemIndex: number): Promise<string> {
		const configured = String(this.getNodeParameter('alertsDirectory', itemIndex, '') ?? '').trim();
		return configured || DEFAULT_DIRECTORY;
	},
};

export class AlertRouterV1 implements INodeType {
	description: INodeTypeDescription;

	constructor(baseDescription: INodeTypeBaseDescription) {
		this.description = alertRouterDescription(baseDescription, 1, [
			deliverToParameter,
			{
				displayName: 'Alerts Directory',
				name: 'alertsDirectory',
				type: 'string',
				default: '={{ $env.ALERTS_DIR || "alerts" }}',
				description:
					'Where alert files go; n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO)',
				displayOptions: { show: { deliverTo: ['file'] } },
			},
			severityParameter,
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
				description: "The processor's HTTP status",
			},
			{
				displayName: 'Reason',
				name: 'reason',
				type: 'string',
				default:
					'={{ $json.response?.reasons?.join(", ") ?? $json.response?.reason ?? $json.response?.code ?? $json.execution?.error?.message ?? $json.outcome ?? "unknown" }}',
				description: 'Why the alert was raised',
			},
			{
				displayName: 'Payload',
				name: 'payload',
				type: 'json',
				default: '={{ $json.lead ?? $json }}',
				description: 'What the alert shows of the lead; personal data is always masked',
			},
		]);
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await routeAlerts.call(this, version1);
	}
}
