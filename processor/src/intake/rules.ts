import { z } from 'zod';
import { readPath, type FieldPath } from './field-path.js';
import type { JsonObject } from '../json.js';
import { normalizeString, NUMBERS_AS_TEXT } from './normalize.js';

const FieldPathSchema = z.union([
	z.string().min(1).max(200),
	z.array(z.string().min(1).max(200)).min(1).max(10),
]);
const RuleCode = z
	.string()
	.max(64)
	.regex(/^[A-Z][A-Z0-9_]*$/, 'rule codes are UPPER_SNAKE_CASE');
const Pattern = z
	.string()
	.min(1)
	.max(200)
	.refine(isRegExp, 'not a valid regular expression (JavaScript syntax, no flags)');

/**
 * The rules (the `rules` section of the rules document, first read from RULES_FILE): required
 * fields, then checks that each yield a rejection code. Unknown keys are refused, so a misspelt
 * one is named rather than ignored.
 */
export const RulesSchema = z.strictObject({
	missingFieldCode: RuleCode.default('MISSING_REQUIRED_FIELD'),
	required: z
		.array(z.strictObject({ field: z.string().min(1).max(200), path: FieldPathSchema }))
		.max(50),
	checks: z
		.array(
			z
				.strictObject({
					code: RuleCode,
					path: FieldPathSchema,
					pattern: Pattern.optional(),
					equals: z.union([z.string().max(200), z.number(), z.boolean()]).optional(),
				})
				.refine(
					(check) => (check.pattern === undefined) !== (check.equals === undefined),
					'a check has either "pattern" or "equals"',
				)
				.refine((check) => typeof check.equals !== 'string' || readsAsWritten(check.equals), {
					message:
						'a lead\'s text is trimmed, and "true"/"false" become booleans, before the checks: write "equals" as the lead will read (true or false without quotes, no spaces around)',
					path: ['equals'],
				})
				.refine((check) => typeof check.equals !== 'number' || !readsNumbersAsText(check.path), {
					message:
						'phone and zip codes are read as text, never as numbers: write "equals" in quotes',
					path: ['equals'],
				}),
		)
		.max(50),
	/**
	 * Consent (docs/privacy.md): when required, a lead without `consent.given` true and a
	 * `consent.timestamp` (and, if `text_versions` is set, one of those `consent.text_version`s)
	 * is refused with `code`.
	 */
	consent: z
		.strictObject({
			required: z.boolean(),
			code: RuleCode.default('CONSENT_MISSING'),
			text_versions: z.array(z.string().min(1).max(100)).min(1).max(50).optional(),
		})
		.optional(),
});

export type RulesConfig = z.infer<typeof RulesSchema>;

/** Whether a lead's text can read as this value after normalisation (normalize.ts). */
export function readsAsWritten(text: string): boolean {
	return normalizeString(text) === text;
}

function readsNumbersAsText(path: FieldPath): boolean {
	const paths = typeof path === 'string' ? [path] : path;
	return paths.some((one) => NUMBERS_AS_TEXT.some((textPath) => textPath.join('.') === one));
}

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
	/** The consent text versions the rules name (`consent.text_versions`), or null. */
	consentTextVersions: ReadonlySet<string> | null;
}

export function compileRules(config: RulesConfig): CompiledRules {
	const checks: Check[] = config.checks.map((check) => {
		if (check.pattern !== undefined) {
			const pattern = new RegExp(check.pattern);
			// a pattern never runs over more than a field's worth of text, however it is written
			return whenPresent(check.path, (value) => {
				const text = String(value);
				return text.length <= MAX_CHECKED_LENGTH && pattern.test(text) ? undefined : check.code;
			});
		}
		return whenPresent(check.path, (value) => (value === check.equals ? undefined : check.code));
	});

	const consent = config.consent?.required ? config.consent : null;
	if (consent) {
		const versions = consent.text_versions ? new Set(consent.text_versions) : null;
		checks.push((lead) => {
			const given = readPath(lead, 'consent.given');
			const timestamp = readPath(lead, 'consent.timestamp');
			const version = readPath(lead, 'consent.text_version');
			const ok =
				given === true &&
				typeof timestamp === 'string' &&
				(versions === null || (typeof version === 'string' && versions.has(version)));
			return ok ? undefined : consent.code;
		});
	}

	return {
		consentTextVersions: config.consent?.text_versions
			? new Set(config.consent.text_versions)
			: null,
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

export function isRegExp(pattern: string): boolean {
	try {
		new RegExp(pattern);
		return true;
	} catch {
		return false;
	}
}

/** A missing field is reported once, by the required-field rule, not again by each check. */
function whenPresent(path: FieldPath, test: (value: unknown) => string | undefined): Check {
	return (lead) => {
		const value = readPath(lead, path);
		return value === undefined ? undefined : test(value);
	};
}
