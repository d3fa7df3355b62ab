import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeBaseDescription,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { OUTCOME_HINTS } from '../outcome';
import { CREDENTIAL } from '../processor';
import * as retryDue from '../v2/actions/dlqItem/retryDue.operation';
import * as computeDaily from '../v2/actions/kpi/computeDaily.operation';
import { runOperation } from '../v2/actions/router';
import { operationExpressions } from '../v2/actions/versionDescription';
import * as submit from './submit.operation';

/**
 * Version 1 as it shipped, for old workflow files: no resources; its own Submit (legacy signature,
 * the Lead JSON and expression parameters); Retry Due and Compute Daily KPI are version 2's
 * operations, whose parameters and behaviour it always had.
 */
const operations = {
	[submit.option.value]: submit,
	[retryDue.option.value]: retryDue,
	[computeDaily.option.value]: computeDaily,
};

const expressions = operationExpressions(operations);

export class LeadIntakeV1 implements INodeType {
	description: INodeTypeDescription;

	constructor(baseDescription: INodeTypeBaseDescription) {
		this.description = {
			...baseDescription,
			version: 1,
			subtitle: expressions.subtitle,
			defaults: { name: 'Lead Intake' },
			inputs: [NodeConnectionTypes.Main],
			outputs: expressions.outputs,
			credentials: [{ name: CREDENTIAL, required: true }],
			usableAsTool: true,
			hints: OUTCOME_HINTS,
			properties: [
				{
					displayName: 'Operation',
					name: 'operation',
					type: 'options',
					noDataExpression: true,
					// an object literal each: the node rules read the options' fields
					options: [
						{ ...submit.option },
						{
							name: 'Retry Due DLQ Items',
							value: retryDue.option.value,
							description: 'Re-deliver the DLQ items whose retry time has come',
							action: 'Retry due DLQ items',
						},
						{
							name: 'Compute Daily KPI',
							value: computeDaily.option.value,
							description: "Recompute a day's KPIs and write its stakeholder report",
							action: 'Compute daily KPI',
						},
					],
					default: 'submitLead',
				},
				...submit.description,
				...retryDue.description,
				...computeDaily.description,
			],
		};
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runOperation.call(this, operations);
	}
}
