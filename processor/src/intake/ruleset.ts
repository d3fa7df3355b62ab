import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { z } from 'zod';
import type { MappingConfig } from './mapping.js';
import type { CompiledRules } from './rules.js';

/*
 * What the intake decides a lead by: one version of the rules document (rules/document.ts), made
 * ready for use. The processor keeps the version in force in a RulesHolder (rules/live-rules.ts)
 * and swaps it whole when a new one is saved.
 */

export const DUPLICATE_IDENTITIES = ['email_or_phone', 'email', 'phone', 'payload'] as const;
export const DUPLICATE_POLICIES = ['drop', 'update'] as const;

/** How a lead from a person already received is recognised and handled (intake/person-identity.ts). */
export const DuplicateSettingsSchema = z
	.strictObject({
		window_hours: z.number().int().min(0).max(720).meta({
			description:
				'A lead is a duplicate within this many hours of the first (0: off; at most 30 days)',
		}),
		identity: z.enum(DUPLICATE_IDENTITIES).meta({
			description:
				'Who "the same person" is: normalised e-mail or phone (email_or_phone), only one of them, or a hash of the normalised payload',
		}),
		default_phone_region: z
			.string()
			.regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 region in capitals, e.g. DE')
			// a code of the right form that the phone metadata does not know (UK: the UK is GB) would
			// make every lead with a national phone number fail
			.refine(
				(region) => isSupportedCountry(region as CountryCode, metadata),
				'not a region with phone numbers (the UK is GB)',
			)
			.meta({ description: 'The region of phone numbers written without a country code' }),
		policy: z.enum(DUPLICATE_POLICIES).meta({
			description:
				"drop: answer duplicate; update: send it as an update of the first lead's record",
		}),
	})
	.meta({ id: 'DuplicateSettings' });

export type DuplicateSettings = z.infer<typeof DuplicateSettingsSchema>;

/** The duplicate settings of the first version (the files hold none). */
export const DEFAULT_DUPLICATE_SETTINGS: DuplicateSettings = {
	window_hours: 24,
	identity: 'email_or_phone',
	default_phone_region: 'DE',
	policy: 'drop',
};

/** One version, compiled once and then shared by every lead; never changed after. */
export interface Ruleset {
	version: number;
	rules: CompiledRules;
	mapping: MappingConfig;
	duplicates: DuplicateSettings;
}

/** The version in force. The intake reads it once per lead and keeps it for that lead. */
export interface RulesHolder {
	current(): Ruleset;
}
