import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem, optionalText } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

/* Version 1 offers this operation too, with these parameters and this behaviour. */

export const option = {
	name: 'Compute Daily',
	value: 'computeKpi',
	description: "Recompute a day's KPIs and write its stakeholder report",
	action: 'Compute daily KPI',
} satisfies OperationModule['option'];

export const subtitle = 'Compute daily KPI';

export const outputs = [output('KPI')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Date',
		name: 'date',
		type: 'string',
		default: '',
		placeholder: '2026-11-23',
		description: 'The UTC day to compute (YYYY-MM-DD); empty means yesterday',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const date = optionalText.call(this, 'date', itemIndex);
		const answer = await request({
			method: 'POST',
			path: '/internal/kpi/compute-daily',
			body: JSON.stringify(date ? { date } : {}),
		});
		return [[{ json: answer }]];
	});
}
