import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem, optionalText } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';
import { documentOf, documentParameter } from './rulesDocument';

export const option = {
	name: 'Save',
	value: 'saveRules',
	description:
		'Save a rules document as the new version: every processor uses it for the next lead. Run a Dry Run first.',
	action: 'Save rules version',
} satisfies OperationModule['option'];

export const subtitle = 'Save rules';

export const outputs = [output('Saved Version')];

export const description = showOnlyFor({ operation: [option.value] }, [
	documentParameter,
	{
		displayName: 'Expected Version',
		name: 'expectedVersion',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 0,
		description:
			'The version your document was edited from: if another version was saved meanwhile, the save is refused (409). 0 saves whatever is in force.',
	},
	{
		displayName: 'Note',
		name: 'note',
		type: 'string',
		typeOptions: { rows: 2 },
		default: '',
		placeholder: 'Saarland and Pfalz',
		description: 'Why the rules change; kept with the version',
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const body: IDataObject = { document: documentOf.call(this, itemIndex) as IDataObject };
		const expected = this.getNodeParameter('expectedVersion', itemIndex, 0) as number;
		const note = optionalText.call(this, 'note', itemIndex);
		if (expected > 0) body.expected_version = expected;
		if (note) body.note = note;
		const answer = await request({
			method: 'PUT',
			path: '/internal/rules',
			body: JSON.stringify(body),
		});
		return [[{ json: answer }]];
	});
}
