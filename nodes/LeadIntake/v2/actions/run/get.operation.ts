import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem, requiredText } from '../../helpers/operator';
import { output } from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Get',
	value: 'getRun',
	description: "Look a lead's run up by its run ID or its idempotency key",
	action: 'Get run',
} satisfies OperationModule['option'];

export const subtitle = 'Get run';

export const outputs = [output('Run')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Look Up By',
		name: 'lookUpBy',
		type: 'options',
		options: [
			{ name: 'Run ID', value: 'runId', description: 'The run_id the processor answered with' },
			{
				name: 'Idempotency Key',
				value: 'idempotencyKey',
				description:
					"The lead's key as the processor has it: through a Lead Source Trigger (1.2), the source name, a slash and the source's key",
			},
		],
		default: 'runId',
		description: 'What you know about the lead',
	},
	{
		displayName: 'Run ID',
		name: 'runId',
		type: 'string',
		default: '',
		required: true,
		placeholder: '6f1c2a9e-0000-4000-8000-000000000001',
		description: 'The run ID, as in the alert file name or the processor answer',
		displayOptions: { show: { lookUpBy: ['runId'] } },
	},
	{
		displayName: 'Idempotency Key',
		name: 'key',
		type: 'string',
		default: '',
		required: true,
		description: 'The idempotency key the lead was sent with',
		displayOptions: { show: { lookUpBy: ['idempotencyKey'] } },
	},
]);

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const byKey = this.getNodeParameter('lookUpBy', itemIndex, 'runId') === 'idempotencyKey';
		const value = requiredText.call(this, byKey ? 'key' : 'runId', itemIndex);
		const path = byKey
			? `/internal/runs/by-key/${encodeURIComponent(value)}`
			: `/internal/runs/${encodeURIComponent(value)}`;
		return [[{ json: await request({ method: 'GET', path }) }]];
	});
}
