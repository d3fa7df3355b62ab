import { z } from 'zod';
import { readPath, type FieldPath } from './field-path.js';
import type { JsonObject } from './lead-schema.js';

const FieldPathSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const RuleCode = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'rule codes are UPPER_SNAKE_CASE');

/** The rules file (RULES_FILE): required fields, then checks that each yield a rejection code. */
export const RulesSchema = z.object({
	missingFieldCode: RuleCode.default('MISSING_REQUIRED_FIELD'),
	required: z.array(z.object({ field: z.string().min(1), path: FieldPathSchema })),
	checks: z.array(
		z.union([
			z.object({ code: RuleCode, path: FieldPathSchema, pattern: z.string().min(1) }),
			z.object({
				code: RuleCode,
				path: FieldPathSchema,
				equals: z.union([z.string(), z.number(), z.boolean()]),
			}),
		]),
	),
});

export type RulesConfig = z.infer<typeof RulesSchema>;

export interface RuleVerdict {
	/** Rejection codes, each once, in the order of the rules file; empty when the lead passes. */
	reasons: string[];
	missingFields: string[];
}

type Check = (lead: JsonObject) => string | undefined;

/** Longer values fail a pattern check unseen. */
const MAX_CHECKED_LENGTH = 256;

export interface CompiledRules {
	evaluate(lead: JsonObject): RuleVerdict;
}

export function compileRules(config: RulesConfig): CompiledRules {
	const checks: Check[] = config.checks.map((check) => {
		if ('pattern' in check) {
			const pattern = new RegExp(check.pattern);
			// a pattern never runs over more than a field's worth of text, however it is written
			return whenPresent(check.path, (value) => {
				const text = String(value);
				return text.length <= MAX_CHECKED_LENGTH && pattern.test(text) ? undefined : check.code;
			});
		}
		return whenPresent(check.path, (value) => (value === check.equals ? undefined : check.code));
	});

	return {
		evaluate(lead) {
			const missingFields = config.required
				.filter((requirement) => readPath(lead, requirement.path) === undefined)
				.map((requirement) => requirement.field);
			const codes = missingFields.length > 0 ? [config.missingFieldCode] : [];
			for (const check of checks) {
				const code = check(lead);
				if (code) codes.push(code);
			}
			return { reasons: [...new Set(codes)], missingFields };
		},
	};
}

/** A missing field is reported once, by the required-field rule, not again by each check. */
function whenPresent(path: FieldPath, test: (value: unknown) => string | undefined): Check {
	return (lead) => {
		const value = readPath(lead, path);
		return value === undefined ? undefined : test(value);
	};
}
