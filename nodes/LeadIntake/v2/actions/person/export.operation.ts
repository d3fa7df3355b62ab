import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';
import { personBody, personParameters } from './person.descriptions';

export const option = {
	name: 'Export',
	value: 'exportPerson',
	description: 'Everything held about a person, in one document to hand over (right of access)',
	action: 'Export person',
} satisfies OperationModule['option'];

export const subtitle = 'Export person';

export const outputs = [output('Export')];

/* The answer is the whole export: runs (with the raw lead while held), events, attempts, DLQ items, alert files. */
export const description = showOnlyFor({ operation: [option.value] }, personParameters);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const answer = await request({
			method: 'POST',
			path: '/internal/privacy/export',
			body: JSON.stringify(personBody.call(this, itemIndex)),
		});
		return [[{ json: answer }]];
	});
}
