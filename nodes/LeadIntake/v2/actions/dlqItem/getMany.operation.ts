import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { showOnlyFor } from '../../../../common/display-options';
import { forEachItem } from '../../helpers/operator';
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
	name: 'Get Many',
	value: 'listDlq',
	description: 'List DLQ items, newest first, by status and reason',
	action: 'Get many DLQ items',
} satisfies OperationModule['option'];

export const subtitle = 'Get many DLQ items';

export const outputs = [output('DLQ Items')];

export const description = showOnlyFor({ operation: [option.value] }, [
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
	},
	{
		...dlqLimitParameter(
			'limit',
			{ maxValue: 500, default: 50 },
			'Max number of results to return',
		),
		displayOptions: { show: { returnAll: [false] } },
	},
	dlqFiltersParameter('filters', [
		dlqReasonFilter,
		dlqStatusFilter({
			type: 'options',
			options: dlqStatuses,
			default: 'open',
			description: 'Only items in this state',
		}),
	]),
]);

/** The processor's page size: Return All asks for pages of this many. */
const PAGE_SIZE = 500;

export async function execute(
	this: IExecuteFunctions,
	processor: Processor,
): Promise<INodeExecutionData[][]> {
	return await forEachItem.call(this, outputs, processor, async (itemIndex, request) => {
		const returnAll = this.getNodeParameter('returnAll', itemIndex, false) as boolean;
		const limit = returnAll ? Infinity : (this.getNodeParameter('limit', itemIndex, 50) as number);
		const filters = this.getNodeParameter('filters', itemIndex, {}) as {
			status?: string;
			reason?: string;
		};
		const qs: IDataObject = {};
		if (filters.status) qs.status = filters.status;
		if (filters.reason?.trim()) qs.reason = filters.reason.trim();
		const found: INodeExecutionData[] = [];
		for (let offset = 0; found.length < limit; ) {
			const pageSize = Math.min(PAGE_SIZE, limit - found.length);
			const page = await request({
				method: 'GET',
				path: '/internal/dlq',
				qs: { ...qs, limit: pageSize, offset },
			});
			const items = (page.items as IDataObject[] | undefined) ?? [];
			found.push(...items.map((json) => ({ json })));
			offset += items.length;
			if (items.length < pageSize || offset >= Number(page.total ?? 0)) break;
		}
		return [found];
	});
}
