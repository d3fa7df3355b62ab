import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'List Versions',
	value: 'listRulesVersions',
	description: 'The saved rules versions, newest first: who changed what, when and why',
	action: 'List rules versions',
} satisfies OperationModule['option'];

export const subtitle = 'List rules versions';

export const outputs = [output('Versions')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 500 },
		default: 50,
		description: 'Max number of results to return',
	},
	{
		displayName: 'Older Than Version',
		name: 'before',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 0,
		description: 'Only versions older than this one (the next page); 0 starts with the newest',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const query = new URLSearchParams({
			limit: String(this.getNodeParameter('limit', itemIndex, 50)),
		});
		const before = this.getNodeParameter('before', itemIndex, 0) as number;
		if (before > 0) query.set('before', String(before));
		const answer = await request({
			method: 'GET',
			path: `/internal/rules/versions?${query.toString()}`,
		});
		return [[{ json: answer }]];
	});
}
