import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import type { Operation } from './description';
import { internalCall, type ProcessorCall, type ProcessorRequest } from './processor';

/*
 * The operator operations: each input item is one request to an internal endpoint of the
 * processor (docs/operations.md), answered by the items of the node's output(s).
 */

type OperatorOperation = Exclude<Operation, 'submitLead'>;

/** What one input item asks for, and how the answer becomes output items. */
interface OperatorStep {
	/** More than one request when all pages of a list are wanted. */
	run(call: (request: ProcessorRequest) => Promise<IDataObject>): Promise<INodeExecutionData[][]>;
}

const PAGE_SIZE = 500;

function stepFor(
	this: IExecuteFunctions,
	operation: OperatorOperation,
	itemIndex: number,
): OperatorStep {
	const parameter = <T>(name: string, fallback?: T) =>
		this.getNodeParameter(name, itemIndex, fallback) as T;
	const single = (request: ProcessorRequest): OperatorStep => ({
		run: async (call) => [[{ json: await call(request) }]],
	});
	switch (operation) {
		case 'getRun': {
			const byKey = parameter<string>('lookUpBy', 'runId') === 'idempotencyKey';
			const value = requiredText.call(this, byKey ? 'key' : 'runId', itemIndex);
			return single({
				method: 'GET',
				path: byKey
					? `/internal/runs/by-key/${encodeURIComponent(value)}`
					: `/internal/runs/${encodeURIComponent(value)}`,
			});
		}
		case 'listDlq': {
			const returnAll = parameter<boolean>('returnAll', false);
			const limit = returnAll ? Infinity : parameter<number>('limit', 50);
			const filters = parameter<{ status?: string; reason?: string }>('filters', {});
			const qs: IDataObject = {};
			if (filters.status) qs.status = filters.status;
			if (filters.reason?.trim()) qs.reason = filters.reason.trim();
			return {
				run: async (call) => {
					const found: INodeExecutionData[] = [];
					for (let offset = 0; found.length < limit; ) {
						const pageSize = Math.min(PAGE_SIZE, limit - found.length);
						const page = await call({
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
				},
			};
		}
		case 'retryDlqItem':
			return single({ method: 'POST', path: `/internal/dlq/${dlqId.call(this, itemIndex)}/retry` });
		case 'resolveDlqItem': {
			const id = dlqId.call(this, itemIndex);
			const note = requiredText.call(this, 'note', itemIndex);
			return single({
				method: 'POST',
				path: `/internal/dlq/${id}/resolve`,
				body: JSON.stringify({ note }),
			});
		}
		case 'replayDlq': {
			const filters = parameter<{
				status?: string[];
				reason?: string;
				source?: string;
				from?: string;
				to?: string;
			}>('replayFilters', {});
			const body: IDataObject = {
				dry_run: parameter<boolean>('dryRun', true),
				limit: parameter<number>('replayLimit', 100),
			};
			if (filters.status?.length) body.status = filters.status;
			for (const name of ['reason', 'source'] as const) {
				if (filters[name]?.trim()) body[name] = filters[name]!.trim();
			}
			for (const name of ['from', 'to'] as const) {
				if (filters[name]) body[name] = isoDateTime.call(this, filters[name]!, name, itemIndex);
			}
			return {
				run: async (call) => {
					const answer = await call({
						method: 'POST',
						path: '/internal/dlq/replay',
						body: JSON.stringify(body),
					});
					const dead = ((answer.items as IDataObject[] | undefined) ?? []).filter(
						(item) => item.outcome === 'dead',
					);
					return [[{ json: answer }], dead.map(deadItem)];
				},
			};
		}
		case 'retryDue': {
			const limit = parameter<number>('batchSize', 500);
			return {
				run: async (call) => {
					const answer = await call({
						method: 'POST',
						path: '/internal/dlq/retry-due',
						body: JSON.stringify({ limit }),
					});
					const dead = (answer.dead_items as IDataObject[] | undefined) ?? [];
					return [[{ json: answer }], dead.map(deadItem)];
				},
			};
		}
		case 'computeKpi': {
			const date = String(parameter<string>('date', '')).trim();
			return single({
				method: 'POST',
				path: '/internal/kpi/compute-daily',
				body: JSON.stringify(date ? { date } : {}),
			});
		}
	}
}

/** A DLQ item that just died, shaped for the Alert Router (as a failed lead is). */
function deadItem(dead: IDataObject): INodeExecutionData {
	return {
		json: {
			outcome: 'dead',
			statusCode: dead.status_code ?? 0,
			run_id: dead.run_id,
			response: dead,
		},
	};
}

/** Runs the operation once per input item; every output item is paired with its input item. */
export async function runOperatorOperation(
	this: IExecuteFunctions,
	operation: OperatorOperation,
	call: ProcessorCall,
	outputCount: number,
): Promise<INodeExecutionData[][]> {
	const outputs: INodeExecutionData[][] = Array.from({ length: outputCount }, () => []);
	const items = this.getInputData();
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const step = stepFor.call(this, operation, itemIndex);
			const results = await step.run((request) => internalCall(this, call, request, itemIndex));
			results.forEach((result, output) => {
				for (const item of result)
					outputs[output]!.push({ ...item, pairedItem: { item: itemIndex } });
			});
		} catch (error) {
			if (!this.continueOnFail()) {
				throw error instanceof NodeApiError || error instanceof NodeOperationError
					? error
					: new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			}
			outputs[0]!.push({
				json: { error: (error as Error).message },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return outputs;
}

function requiredText(this: IExecuteFunctions, name: string, itemIndex: number): string {
	const value = String(this.getNodeParameter(name, itemIndex, '') ?? '').trim();
	if (!value) {
		throw new NodeOperationError(this.getNode(), `The parameter "${name}" is empty`, { itemIndex });
	}
	return value;
}

function dlqId(this: IExecuteFunctions, itemIndex: number): number {
	const id = Number(this.getNodeParameter('dlqId', itemIndex, 0));
	if (!Number.isInteger(id) || id < 1) {
		throw new NodeOperationError(this.getNode(), 'DLQ Item ID must be a whole number from 1', {
			itemIndex,
		});
	}
	return id;
}

function isoDateTime(
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
