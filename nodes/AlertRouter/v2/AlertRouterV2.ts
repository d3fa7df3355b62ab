import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	INodeType,
	INodeTypeBaseDescription,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import {
	alertRouterDescription,
	DEFAULT_DIRECTORY,
	deliverToParameter,
	routeAlerts,
	severityParameter,
	type AlertContent,
	type AlertVersion,
} from '../deliver';
import { fromResult } from '../from-result';

/** A value the node takes from the Lead Intake result unless the operator writes it here. */
export function fromResultOrCustom(
	label: string,
	name: string,
	custom: Omit<INodeProperties, 'displayName' | 'name' | 'displayOptions'>,
	fromResultDescription: string,
): INodeProperties[] {
	const source = `${name}From`;
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
		},
		{
			...custom,
			displayName: `Custom ${label}`,
			name: customName(name),
			displayOptions: { show: { [source]: ['custom'] } },
		} as INodeProperties,
	];
}

const customName = (name: string) => `custom${name[0]!.toUpperCase()}${name.slice(1)}`;

/**
 * Version 2: the alert says what the Lead Intake result (or the Error Trigger's item) says, read in
 * code, unless a value is written in the node; files go to the node's directory, else n8n's
 * ALERTS_DIR, else `alerts`.
 */
export const version2: AlertVersion = {
	content(this: IExecuteFunctions, json: IDataObject, itemIndex: number): AlertContent {
		const derived = fromResult(json);
		const custom = (name: string) =>
			this.getNodeParameter(`${name}From`, itemIndex, 'result') === 'custom'
				? this.getNodeParameter(customName(name), itemIndex, '')
				: undefined;
		const runId = custom('runId');
		const reason = custom('reason');
		const payload = custom('payload');
		return {
			runId: runId === undefined ? derived.runId : String(runId).trim(),
			statusCode: derived.statusCode,
			reason: reason === undefined ? derived.reason : String(reason).trim() || 'unknown',
			payload:
				payload === undefined ? derived.payload : parsePayload.call(this, payload, itemIndex),
		};
	},

	/**
	 * The node's own setting, else n8n's ALERTS_DIR, else `alerts`. ALERTS_DIR is read through n8n's
	 * `$env`, so the instance's policy on environment access applies (N8N_BLOCK_ENV_ACCESS_IN_NODE):
	 * where it is blocked, the directory is set in the node.
	 */
	async directory(this: IExecuteFunctions, itemIndex: number): Promise<string> {
		const configured = String(this.getNodeParameter('alertsDirectory', itemIndex, '') ?? '').trim();
		if (configured) return configured;
		let fromEnvironment: unknown;
		try {
			fromEnvironment = this.evaluateExpression('{{ $env.ALERTS_DIR }}', itemIndex);
		} catch {
			fromEnvironment = undefined; // environment access is blocked on this instance
		}
		return typeof fromEnvironment === 'string' && fromEnvironment.trim()
			? fromEnvironment.trim()
			: DEFAULT_DIRECTORY;
	},
};

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

export class AlertRouterV2 implements INodeType {
	description: INodeTypeDescription;

	constructor(baseDescription: INodeTypeBaseDescription) {
		this.description = alertRouterDescription(baseDescription, 2, [
			deliverToParameter,
			{
				displayName: 'Alerts Directory',
				name: 'alertsDirectory',
				type: 'string',
				default: '',
				placeholder: 'ALERTS_DIR, else alerts',
				description:
					"Where alert files go. Empty: n8n's ALERTS_DIR environment variable, else the folder alerts in n8n's working directory.",
				hint: 'n8n must be allowed to write there (N8N_RESTRICT_FILE_ACCESS_TO)',
				displayOptions: { show: { deliverTo: ['file'] } },
			},
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
		]);
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await routeAlerts.call(this, version2);
	}
}
