import { isSafePattern } from 'redos-detector';
import { z } from 'zod';
import { readJsonConfig } from '../config-files.js';
import { canonicalJson } from '../intake/fingerprint.js';
import type { JsonValue } from '../json.js';
import { MappingSchema } from '../intake/mapping.js';
import { compileRules, isRegExp, RulesSchema, type RulesConfig } from '../intake/rules.js';
import {
	DEFAULT_DUPLICATE_SETTINGS,
	DuplicateSettingsSchema,
	type Ruleset,
} from '../intake/ruleset.js';

/*
 * The rules document: everything an operator may change while the processor runs, as one
 * versioned JSON document (docs/contract.md, "The rules document"). Stored in `rules_versions`;
 * the newest version is in force in every processor (rules/live-rules.ts).
 */

/** The top-level sections; unknown ones are refused, so a misspelt section is named. */
export const RulesDocumentSchema = z
	.strictObject({
		rules: RulesSchema.meta({
			description: 'Required fields and checks; a lead that fails any is rejected',
		}),
		mapping: MappingSchema.meta({ description: 'How a lead becomes the CRM request' }),
		duplicates: DuplicateSettingsSchema,
	})
	.meta({
		id: 'RulesDocument',
		description: 'The rules, the CRM mapping and the duplicate settings',
	});

export type RulesDocument = z.infer<typeof RulesDocumentSchema>;

/**
 * How far redos-detector may explore a pattern: the verdict depends on this only, so it is the
 * same on every machine. Patterns of the kind rules use (zip ranges, alternatives, bounded
 * repetition) are proven safe in a fraction of it.
 */
const VETTING_STEPS = 100;
/** The most time the patterns of one document may take to vet, together: a cap, not a verdict. */
const VETTING_BUDGET_MS = 1000;

const VETTING_REFUSALS: Record<string, string> = {
	hitMaxScore:
		'the pattern may backtrack catastrophically on some input (nested or overlapping repetition); write it without',
	hitMaxSteps:
		'the pattern is too involved to be proven free of catastrophic backtracking; write it simpler',
	unreadable:
		'the pattern cannot be proven free of catastrophic backtracking (named groups and backreferences are not supported); write it without',
	lookbehind:
		'the pattern cannot be proven free of catastrophic backtracking (a lookbehind, (?<= or (?<!, runs backwards, which the proof does not follow); write it without',
	timedOut: `the patterns of this document took longer than ${VETTING_BUDGET_MS} ms to vet; use fewer or simpler ones`,
};

/**
 * Every check's pattern must be proven free of catastrophic backtracking (redos-detector) before
 * it is saved: a saved pattern runs in every processor on every lead at once. The proof is
 * bounded by steps (deterministic), and all patterns of a document together by `budgetMs`.
 */
function vetPatterns(
	rules: RulesConfig,
	context: z.RefinementCtx,
	path: PropertyKey[],
	budgetMs: number,
) {
	const deadline = performance.now() + budgetMs;
	rules.checks.forEach((check, index) => {
		if (check.pattern === undefined) return;
		const timeout = Math.max(1, Math.floor(deadline - performance.now()));
		const refusal = refusalOf(check.pattern, timeout);
		if (refusal === undefined) return;
		context.addIssue({
			code: 'custom',
			path: [...path, 'checks', index, 'pattern'],
			message: VETTING_REFUSALS[refusal] ?? VETTING_REFUSALS.hitMaxScore!,
		});
	});
}

/** Why the pattern is not proven safe, or undefined (also for an invalid one: its own check names it). */
function refusalOf(pattern: string, timeout: number): string | undefined {
	if (!isRegExp(pattern)) return undefined;
	if (hasLookbehind(pattern)) return 'lookbehind';
	try {
		const verdict = isSafePattern(pattern, { maxSteps: VETTING_STEPS, timeout });
		return verdict.safe ? undefined : (verdict.error ?? 'hitMaxScore');
	} catch {
		// valid JavaScript the detector cannot read (named groups, for one): unproven is refused
		return 'unreadable';
	}
}

/**
 * Whether the pattern has a lookbehind (`(?<=`, `(?<!`) outside a character class. V8 matches a
 * lookbehind right to left, the detector reads it left to right: `(?<=^(?:\w+\s?)+)$` passes its
 * proof and backtracks exponentially.
 */
export function hasLookbehind(pattern: string): boolean {
	let inClass = false;
	for (let index = 0; index < pattern.length; index++) {
		const char = pattern[index];
		if (char === '\\') index++;
		else if (inClass) inClass = char !== ']';
		else if (char === '[') inClass = true;
		else if (char === '(' && pattern.startsWith('?<', index + 1)) {
			const kind = pattern[index + 3];
			if (kind === '=' || kind === '!') return true;
		}
	}
	return false;
}

/** What a new version must pass: the document's shape, and patterns proven safe. */
export const ProposedDocumentSchema = RulesDocumentSchema.superRefine((document, context) =>
	vetPatterns(document.rules, context, ['rules'], VETTING_BUDGET_MS),
);

/**
 * What a stored version must pass to be taken into force: the same proof, for one written around
 * the API (by hand), by steps only, so that every process reaches the same verdict however busy
 * it is. A pattern saved through the API always passes it again.
 */
export const StoredDocumentSchema = RulesDocumentSchema.superRefine((document, context) =>
	vetPatterns(document.rules, context, ['rules'], Number.POSITIVE_INFINITY),
);

/** A stored version made ready for the intake. */
export function activate(version: number, document: RulesDocument): Ruleset {
	return {
		version,
		rules: compileRules(document.rules),
		mapping: document.mapping,
		duplicates: document.duplicates,
	};
}

/** Whether two documents (or sections) say the same, whatever their key order. */
export function sameJson(a: unknown, b: unknown): boolean {
	return canonicalJson(a as JsonValue) === canonicalJson(b as JsonValue);
}

/** The top-level sections that differ (all of them when there is no version before). */
export function changedSections(before: RulesDocument | null, after: RulesDocument): string[] {
	return (Object.keys(RulesDocumentSchema.shape) as (keyof RulesDocument)[]).filter(
		(section) => !before || !sameJson(before[section], after[section]),
	);
}

/**
 * The first version: RULES_FILE and CRM_MAPPING_FILE with the default duplicate settings. A file
 * that does not validate, or a pattern that is not proven safe, stops the start, naming file and
 * field. (`vet: false` only to compare the files with what they seeded.)
 */
export async function readSeedDocument(
	rulesFile: string,
	mappingFile: string,
	options: { vet: boolean } = { vet: true },
): Promise<RulesDocument> {
	const VettedRules = RulesSchema.superRefine((rules, context) =>
		vetPatterns(rules, context, [], VETTING_BUDGET_MS),
	);
	return {
		rules: await readJsonConfig(rulesFile, options.vet ? VettedRules : RulesSchema),
		mapping: await readJsonConfig(mappingFile, MappingSchema),
		duplicates: DEFAULT_DUPLICATE_SETTINGS,
	};
}
