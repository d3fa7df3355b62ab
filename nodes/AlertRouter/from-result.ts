import type { IDataObject } from 'n8n-workflow';

/**
 * What an alert says by default, read from the item in code: a Lead Intake result (submit or a
 * dead DLQ item), or an Error Trigger item for a workflow error. The same fallbacks version 1
 * held as expressions.
 */
export function fromResult(json: IDataObject): {
	runId: string;
	statusCode: number;
	reason: string;
	payload: unknown;
} {
	const response = object(json.response);
	const execution = object(json.execution);
	const reasons = Array.isArray(response.reasons) ? response.reasons.join(', ') : undefined;
	return {
		runId: firstText(json.run_id, response.run_id, execution.id) ?? '',
		statusCode: Number(json.statusCode) || 0,
		reason:
			firstText(
				reasons,
				response.reason,
				response.code,
				object(execution.error).message,
				json.outcome,
			) ?? 'unknown',
		payload: json.lead ?? json,
	};
}

/** The value when it is a JSON object, else an empty one. */
export function object(value: unknown): IDataObject {
	return value !== null && typeof value === 'object' && !Array.isArray(value)
		? (value as IDataObject)
		: {};
}

function firstText(...values: unknown[]): string | undefined {
	for (const value of values) {
		if ((typeof value === 'string' && value !== '') || typeof value === 'number')
			return String(value);
	}
	return undefined;
}

/** An Error Trigger item's workflow name and the node it stopped at, or null for any other item. */
export function workflowErrorOf(json: IDataObject): { workflow: string; node: string } | null {
	const execution = object(json.execution);
	const workflow = object(json.workflow);
	if (!('error' in execution) || typeof workflow.name !== 'string' || workflow.name === '') {
		return null;
	}
	const node = execution.lastNodeExecuted;
	return {
		workflow: workflow.name.slice(0, 200),
		node: typeof node === 'string' ? node.slice(0, 200) : '',
	};
}
