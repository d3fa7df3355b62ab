import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { deadItem, forEachItem, isoDateTime } from '../../helpers/operator';
import {
	dlqFiltersParameter,
	dlqLimitParameter,
	dlqReasonFilter,
	dlqStatuses,
	dlqStatusFilter,
	output,
} from '../common.descriptions';
import type { OperationModule, Processor } from '../node.type';

export const option = {
	name: 'Replay',
	value: 'replayDlq',
	description: 'Retry every DLQ item that matches a filter now (count them first with Dry Run)',
	action: 'Replay DLQ items',
} satisfies OperationModule['option'];

export const subtitle = 'Replay DLQ items';

export const outputs = [output('Summary'), output('Dead Items')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Dry Run',
		name: 'dryRun',
		type: 'boolean',
		default: true,
		description: 'Whether to only count the matching items instead of retrying them',
		hint: 'Run once with Dry Run on to see how many items match, then turn it off to replay them',
	},
	dlqLimitParameter(
		'replayLimit',
		{ maxValue: 10000, default: 100 },
		'Max number of items to replay in this run (oldest first)',
	),
	dlqFiltersParameter('replayFilters', [
		{
			displayName: 'Failed After',
			name: 'from',
			type: 'dateTime',
			default: '',
			description: 'Only items that failed at or after this time',
		},
		{
			displayName: 'Failed Before',
			name: 'to',
			type: 'dateTime',
			default: '',
			description: 'Only items that failed before this time',
		},
		dlqReasonFilter,
		{
			displayName: 'Source',
			name: 'source',
			type: 'string',
			default: '',
			placeholder: 'development',
			description: 'Only leads from this lead source',
		},
		dlqStatusFilter({
			type: 'multiOptions',
			options: dlqStatuses.filter(({ value }) => value === 'open' || value === 'dead'),
			default: ['dead'],
			description:
				'Only items in these states. Without this filter only dead items are replayed; add Open to bring waiting items forward too.',
		}),
	]),
]);

interface ReplayFilters {
	status?: string[];
	reason?: string;
	source?: string;
	from?: string;
	to?: string;
}

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const filters = this.getNodeParameter('replayFilters', itemIndex, {}) as ReplayFilters;
		const body: IDataObject = {
			dry_run: this.getNodeParameter('dryRun', itemIndex, true) as boolean,
			limit: this.getNodeParameter('replayLimit', itemIndex, 100) as number,
		};
		if (filters.status?.length) body.status = filters.status;
		for (const name of ['reason', 'source'] as const) {
			if (filters[name]?.trim()) body[name] = filters[name]!.trim();
		}
		for (const name of ['from', 'to'] as const) {
			if (filters[name]) body[name] = isoDateTime.call(this, filters[name]!, name, itemIndex);
		}
		const answer = await request({
			method: 'POST',
			path: '/internal/dlq/replay',
			body: JSON.stringify(body),
		});
		const dead = ((answer.items as IDataObject[] | undefined) ?? []).filter(
			(item) => item.outcome === 'dead',
		);
		return [[{ json: answer }], dead.map(deadItem)];
	});
}
