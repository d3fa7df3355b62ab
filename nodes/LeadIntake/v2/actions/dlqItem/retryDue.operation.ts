import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { deadItem, forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

/* Version 1 offers this operation too, with these parameters and this behaviour. */

export const option = {
	name: 'Retry Due',
	value: 'retryDue',
	description:
		'Re-deliver the DLQ items whose retry time has come (what the DLQ retry workflow does every minute)',
	action: 'Retry due DLQ items',
} satisfies OperationModule['option'];

export const subtitle = 'Retry due DLQ items';

export const outputs = [output('Summary'), output('Dead Items')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Batch Size',
		name: 'batchSize',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 10000 },
		default: 500,
		description: 'How many due items to claim and re-deliver in this run',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const limit = this.getNodeParameter('batchSize', itemIndex, 500) as number;
		const answer = await request({
			method: 'POST',
			path: '/internal/dlq/retry-due',
			body: JSON.stringify({ limit }),
		});
		const dead = (answer.dead_items as IDataObject[] | undefined) ?? [];
		return [[{ json: answer }], dead.map(deadItem)];
	});
}
