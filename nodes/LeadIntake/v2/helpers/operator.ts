import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeOutputConfiguration,
} from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import { internalCall, type ProcessorRequest } from '../../processor';
import type { Processor } from '../actions/node.type';

/*
 * What the operator operations share: each input item is one request (or, for a list, a few) to an
 * internal endpoint of the processor (docs/operations.md), answered by items on the node's outputs.
 */

/** One input item's request(s): `request` calls an internal endpoint and returns its 2xx answer. */
export type ItemStep = (
	itemIndex: number,
	request: (request: ProcessorRequest) => Promise<IDataObject>,
) => Promise<INodeExecutionData[][]>;

/**
 * Runs the step once per input item; every output item is paired with its input item. With
 * Continue On Fail an item's error becomes an item on the first output and the others go on.
 */
export async function forEachItem(
	this: IExecuteFunctions,
	outputs: INodeOutputConfiguration[],
	{ call }: Processor,
	step: ItemStep,
): Promise<INodeExecutionData[][]> {
	const results: INodeExecutionData[][] = outputs.map(() => []);
	const items = this.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const answered = await step(itemIndex, (request) =>
				internalCall(this, call, request, itemIndex),
			);
			answered.forEach((answer, output) => {
				for (const item of answer)
					results[output]!.push({ ...item, pairedItem: { item: itemIndex } });
			});
		} catch (error) {
			if (!this.continueOnFail()) {
				throw error instanceof NodeApiError || error instanceof NodeOperationError
					? error
					: new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			}
			results[0]!.push({
				json: { error: (error as Error).message },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return results;
}

/** A DLQ item that just died, shaped for the Alert Router (as a failed lead is). */
export function deadItem(dead: IDataObject): INodeExecutionData {
	return {
		json: {
			outcome: 'dead',
			statusCode: dead.status_code ?? 0,
			run_id: dead.run_id,
			response: dead,
		},
	};
}

/** A text parameter, trimmed; an expression that gives nothing (undefined, null) is empty. */
export function optionalText(this: IExecuteFunctions, name: string, itemIndex: number): string {
	return String(this.getNodeParameter(name, itemIndex, '') ?? '').trim();
}

export function requiredText(this: IExecuteFunctions, name: string, itemIndex: number): string {
	const value = optionalText.call(this, name, itemIndex);
	if (!value) {
		throw new NodeOperationError(this.getNode(), `The parameter "${name}" is empty`, { itemIndex });
	}
	return value;
}

export function dlqId(this: IExecuteFunctions, itemIndex: number): number {
	const id = Number(this.getNodeParameter('dlqId', itemIndex, 0));
	if (!Number.isInteger(id) || id < 1) {
		throw new NodeOperationError(this.getNode(), 'DLQ Item ID must be a whole number from 1', {
			itemIndex,
		});
	}
	return id;
}

export function isoDateTime(
	this: IExecuteFunctions,
	value: string,
	name: string,
	itemIndex: number,
): string {
	const date = new Date(value);
	if (Number.isNaN(date.getTime())) {
		throw new NodeOperationError(this.getNode(), `The filter "${name}" is not a date and time`, {
			itemIndex,
		});
	}
	return date.toISOString();
}
