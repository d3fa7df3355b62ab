import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { dlqId, forEachItem, requiredText } from '../../helpers/operator';
import { dlqIdParameter, output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Resolve',
	value: 'resolveDlqItem',
	description: 'Close one DLQ item by hand, with a note saying why',
	action: 'Resolve DLQ item',
} satisfies OperationModule['option'];

export const subtitle = 'Resolve DLQ item';

export const outputs = [output('Resolved Item')];

export const description = showOnlyFor({ operation: [option.value] }, [
	dlqIdParameter,
	{
		displayName: 'Note',
		name: 'note',
		type: 'string',
		typeOptions: { rows: 2 },
		default: '',
		required: true,
		placeholder: 'Entered in the CRM by hand',
		description: 'Why the item is closed without a delivery; kept in the audit trail',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const id = dlqId.call(this, itemIndex);
		const note = requiredText.call(this, 'note', itemIndex);
		return [
			[
				{
					json: await request({
						method: 'POST',
						path: `/internal/dlq/${id}/resolve`,
						body: JSON.stringify({ note }),
					}),
				},
			],
		];
	});
}
