import type { INodeOutputConfiguration, INodeProperties, INodePropertyOptions } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import type { Operation, OperationModule, Resource } from './node.type';

/* Parameter blocks more than one operation uses, written once. */

/**
 * A resource's parameters: its Operation list (one entry per operation module, in the order given,
 * which the node rules want alphabetical) and then each operation's own parameters.
 */
export function resourceDescription(
	resource: Resource,
	operations: Record<string, OperationModule>,
	defaultOperation: Operation,
): INodeProperties[] {
	return [
		{
			displayName: 'Operation',
			name: 'operation',
			type: 'options',
			noDataExpression: true,
			displayOptions: { show: { resource: [resource] } },
			options: Object.values(operations).map(({ option }) => option),
			default: defaultOperation,
		},
		...Object.values(operations).flatMap((operation) => operation.description),
	];
}

/** A plain main output with a name. */
export const output = (displayName: string): INodeOutputConfiguration => ({
	type: NodeConnectionTypes.Main,
	displayName,
});

/** The states of a DLQ item, as the processor names them. */
export const dlqStatuses: INodePropertyOptions[] = [
	{ name: 'Dead', value: 'dead', description: 'Gave up after all retries, or refused by the CRM' },
	{ name: 'Open', value: 'open', description: 'Waiting for its next automatic retry' },
	{ name: 'Resolved', value: 'resolved', description: 'Delivered on a retry, or closed by hand' },
	{ name: 'Retrying', value: 'retrying', description: 'Being re-delivered right now' },
];

/** One DLQ item, by the id the processor gave it. */
export const dlqIdParameter: INodeProperties = {
	displayName: 'DLQ Item ID',
	name: 'dlqId',
	type: 'number',
	typeOptions: { minValue: 1 },
	default: 1,
	required: true,
	description: 'The dlq_id, as in the alert or the Get Many output',
};

/** At most this many DLQ items (each list names its own parameter and bounds). */
export function dlqLimitParameter(
	name: string,
	{ maxValue, default: defaultValue }: { maxValue: number; default: number },
	description: string,
): INodeProperties {
	return {
		displayName: 'Limit',
		name,
		type: 'number',
		typeOptions: { minValue: 1, maxValue },
		default: defaultValue,
		description,
	};
}

/** Filter: only items that failed for this reason. */
export const dlqReasonFilter: INodeProperties = {
	displayName: 'Reason',
	name: 'reason',
	type: 'string',
	default: '',
	placeholder: 'crm_http_503',
	description: 'Only items that failed for this reason',
};

/** Filter: only items in this state (one, or several). */
export function dlqStatusFilter(
	choice: Pick<INodeProperties, 'type' | 'options' | 'default' | 'description'>,
): INodeProperties {
	return { displayName: 'Status', name: 'status', ...choice };
}

/** A collection of DLQ filters under the given parameter name. */
export function dlqFiltersParameter(name: string, options: INodeProperties[]): INodeProperties {
	return {
		displayName: 'Filters',
		name,
		type: 'collection',
		placeholder: 'Add filter',
		default: {},
		options,
	};
}
