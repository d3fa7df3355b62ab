import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';
import { documentOf, documentParameter } from './rulesDocument';

export const option = {
	name: 'Dry Run',
	value: 'dryRunRules',
	description:
		'Evaluate a proposed rules document against the newest leads: what it would accept or reject differently. Nothing is saved.',
	action: 'Dry run rules document',
} satisfies OperationModule['option'];

export const subtitle = 'Dry run rules';

export const outputs = [output('Dry Run')];

export const description = showOnlyFor({ operation: [option.value] }, [
	documentParameter,
	{
		displayName: 'Leads to Evaluate',
		name: 'leadsToEvaluate',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 10_000 },
		default: 1000,
		description: 'How many of the newest leads to evaluate',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const document = documentOf.call(this, itemIndex);
		const limit = this.getNodeParameter('leadsToEvaluate', itemIndex, 1000) as number;
		const answer = await request({
			method: 'POST',
			path: '/internal/rules/dry-run',
			body: JSON.stringify({ document, limit }),
		});
		return [[{ json: answer }]];
	});
}
