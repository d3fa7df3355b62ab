import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import {
	OUTPUTS,
	outputsExpression,
	properties,
	subtitleExpression,
	type Operation,
} from './description';
import { OUTCOME_HINTS } from './outcome';
import { runOperatorOperation } from './operator';
import { CREDENTIAL, processorCall, type ProcessorCredentials } from './processor';
import { submitLeads } from './submit';
import { recentCredentials } from '../common/recent-credentials';

/**
 * Version 2 signs with Standard Webhooks (v2) by default, takes its defaults from the Lead Source
 * Trigger's item in code (no expressions to show or edit) and adds the operator operations;
 * version 2.1 answers the lead source itself (no Respond to Webhook node, no expression to evaluate);
 * version 1 keeps the parameters and behaviour it shipped with, for old workflow files.
 */
export class LeadIntake implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Lead Intake',
		name: 'leadIntake',
		icon: {
			light: 'file:../../icons/leadIntake.svg',
			dark: 'file:../../icons/leadIntake.dark.svg',
		},
		group: ['transform'],
		version: [1, 2, 2.1],
		defaultVersion: 2.1,
		subtitle: subtitleExpression,
		description:
			'Sign leads and submit them to the Lead Intake processor; look runs up, work the DLQ, compute KPIs',
		defaults: { name: 'Lead Intake' },
		inputs: [NodeConnectionTypes.Main],
		outputs: outputsExpression,
		credentials: [{ name: CREDENTIAL, required: true }],
		usableAsTool: true,
		hints: OUTCOME_HINTS,
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0) as Operation;
		const credentials = await recentCredentials<ProcessorCredentials>(this, CREDENTIAL);
		const call = processorCall(this, credentials);
		if (operation === 'submitLead') return submitLeads.call(this, credentials, call);
		return runOperatorOperation.call(this, operation, call, OUTPUTS[operation].length);
	}
}
