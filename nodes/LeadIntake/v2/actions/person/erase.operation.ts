import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';
import { personBody, personParameters } from './person.descriptions';

export const option = {
	name: 'Erase',
	value: 'erasePerson',
	description:
		'Erase everything held about a person (right to be forgotten), the CRM record included',
	action: 'Erase person',
} satisfies OperationModule['option'];

export const subtitle = 'Erase person';

export const outputs = [output('Erased')];

/* The answer says what was erased (counts, run ids, CRM status), never the person. */
export const description = showOnlyFor({ operation: [option.value] }, personParameters);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const answer = await request({
			method: 'POST',
			path: '/internal/privacy/erase',
			body: JSON.stringify(personBody.call(this, itemIndex)),
		});
		return [[{ json: answer }]];
	});
}
