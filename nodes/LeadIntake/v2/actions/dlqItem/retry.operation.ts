import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { dlqId, forEachItem } from '../../helpers/operator';
import { dlqIdParameter, output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Retry',
	value: 'retryDlqItem',
	description: 'Re-deliver one open or dead DLQ item now',
	action: 'Retry DLQ item',
} satisfies OperationModule['option'];

export const subtitle = 'Retry DLQ item';

export const outputs = [output('Result')];

export const description = showOnlyFor({ operation: [option.value] }, [dlqIdParameter]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => [
		[
			{
				json: await request({
					method: 'POST',
					path: `/internal/dlq/${dlqId.call(this, itemIndex)}/retry`,
				}),
			},
		],
	]);
}
