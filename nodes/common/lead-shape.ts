/*
 * The processor's bounds on a lead's structure (docs/hostile-input.md), checked on n8n's side
 * too: a lead nested thousands deep parses, but n8n cannot serialise it (the stack overflows), so
 * the source would be told to send it again, and again. Counted as the processor counts: every
 * object, array, key and text is a value; the outermost object or array is level 1.
 */
export const LEAD_MAX_DEPTH = 32;
export const LEAD_MAX_VALUES = 10_000;

export interface LeadShapeProblem {
	code: 'lead_too_deep' | 'lead_too_large';
	detail: string;
}

const TOO_DEEP: LeadShapeProblem = {
	code: 'lead_too_deep',
	detail: `A lead may nest objects and arrays ${LEAD_MAX_DEPTH} levels deep at most`,
};
const TOO_LARGE: LeadShapeProblem = {
	code: 'lead_too_large',
	detail: `A lead may hold ${LEAD_MAX_VALUES} values at most`,
};

/** The first bound the lead breaks, or null. No recursion; it stops at the first bound broken. */
export function leadShapeProblem(lead: unknown): LeadShapeProblem | null {
	if (lead === null || typeof lead !== 'object') return null;
	const waiting: [object, number][] = [[lead, 1]];
	let values = 1;
	while (waiting.length > 0) {
		const [container, level] = waiting.pop()!;
		if (level > LEAD_MAX_DEPTH) return TOO_DEEP;
		const keyed = !Array.isArray(container);
		for (const child of Object.values(container) as unknown[]) {
			values += keyed ? 2 : 1;
			if (child !== null && typeof child === 'object') waiting.push([child, level + 1]);
			else if (typeof child !== 'string') values -= 1;
			if (values > LEAD_MAX_VALUES) return TOO_LARGE;
		}
	}
	return null;
}
