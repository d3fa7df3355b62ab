import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Get Current',
	value: 'getRules',
	description: 'The rules version in force: business rules, CRM mapping and duplicate settings',
	action: 'Get current rules',
} satisfies OperationModule['option'];

export const subtitle = 'Get current rules';

export const outputs = [output('Rules')];

export const description = showOnlyFor({ operation: [option.value] }, []);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (_itemIndex, request) => [
		[{ json: await request({ method: 'GET', path: '/internal/rules' }) }],
	]);
}
