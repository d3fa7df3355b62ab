import { isDeepStrictEqual } from 'node:util';
import { isSafePattern } from 'redos-detector';
import { z } from 'zod';
import { readJsonConfig } from '../config-files.js';
import { MappingSchema } from '../intake/mapping.js';
import { compileRules, RulesSchema, type RulesConfig } from '../intake/rules.js';
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

/** The longest a document's patterns may take to be proven safe, together. */
const VETTING_BUDGET_MS = 250;

/**
 * Every check's pattern must be proven free of catastrophic backtracking (redos-detector) before
 * it is saved: a saved pattern runs in every processor on every lead at once. What cannot be
 * proven within the budget is refused too, so vetting a document costs a bounded time.
 */
export function vetPatterns(rules: RulesConfig, context: z.RefinementCtx, path: PropertyKey[]) {
	const deadline = performance.now() + VETTING_BUDGET_MS;
	rules.checks.forEach((check, index) => {
		if (check.pattern === undefined) return;
		const left = Math.floor(deadline - performance.now());
		const verdict =
			left > 0 ? isSafePattern(check.pattern, { timeout: left, maxSteps: 1000 }) : null;
		if (verdict?.safe) return;
		context.addIssue({
			code: 'custom',
			path: [...path, 'checks', index, 'pattern'],
			message: verdict
				? 'the pattern may backtrack catastrophically on some input (nested or overlapping repetition); write it without'
				: 'the patterns of this document take too long to prove safe; use fewer or simpler ones',
		});
	});
}

/** What a new version must pass: the document's shape, and patterns proven safe. */
export const ProposedDocumentSchema = RulesDocumentSchema.superRefine((document, context) =>
	vetPatterns(document.rules, context, ['rules']),
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

/** The top-level sections that differ (all of them when there is no version before). */
export function changedSections(before: RulesDocument | null, after: RulesDocument): string[] {
	return (Object.keys(RulesDocumentSchema.shape) as (keyof RulesDocument)[]).filter(
		(section) => !before || !isDeepStrictEqual(before[section], after[section]),
	);
}

/**
 * The first version: RULES_FILE and CRM_MAPPING_FILE with the default duplicate settings. A file
 * that does not validate, or a pattern that is not safe, stops the start, naming file and field.
 */
export async function readSeedDocument(
	rulesFile: string,
	mappingFile: string,
): Promise<RulesDocument> {
	const VettedRules = RulesSchema.superRefine((rules, context) => vetPatterns(rules, context, []));
	return {
		rules: await readJsonConfig(rulesFile, VettedRules),
		mapping: await readJsonConfig(mappingFile, MappingSchema),
		duplicates: DEFAULT_DUPLICATE_SETTINGS,
	};
}
