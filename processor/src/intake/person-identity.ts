import { createHash } from 'node:crypto';
// core + the small metadata as a JS module: the min entry imports its metadata as JSON, which
// Node and jest warn about on every import
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { canonicalJson } from './fingerprint.js';
import type { JsonObject } from '../json.js';
import type { DuplicateSettings } from './ruleset.js';
import type { IdentityMatch, PersonIdentity } from '../vocabulary.js';

/*
 * Who "the same person" is (docs/adr/0010-same-person-identity.md). A lead yields up to two
 * identities, each kept only as a salted hash (the salt is EMAIL_HASH_SALT, as for email_hash):
 *  - email: trimmed and case-folded;
 *  - phone: E.164, numbers without a country code read in the document's default region;
 *  - payload: the canonical JSON of the normalised lead (idempotency_key left out).
 * The identity setting chooses which count: email_or_phone (either matches), email, phone, payload.
 */

export function normalizeEmailIdentity(value: unknown): string | null {
	if (typeof value !== 'string') return null;
	const email = value.trim().toLowerCase();
	return email.includes('@') ? email : null;
}

/** E.164, or null when the text is not a possible phone number. */
export function normalizePhoneIdentity(value: unknown, defaultRegion: string): string | null {
	if (typeof value !== 'string' && typeof value !== 'number') return null;
	const text = String(value).trim();
	if (text === '') return null;
	const parsed = parsePhoneNumberFromString(text, defaultRegion as CountryCode, metadata);
	if (!parsed || !parsed.isPossible()) return null;
	return parsed.number;
}

/** The identities of a normalised lead under the settings, in a fixed order; none: no check. */
export function personIdentities(
	lead: JsonObject,
	settings: DuplicateSettings,
	salt: string,
): PersonIdentity[] {
	if (settings.window_hours === 0) return [];
	const result: PersonIdentity[] = [];
	const add = (match: IdentityMatch, value: string | null) => {
		if (value !== null) result.push({ match, hash: hashIdentity(match, value, salt) });
	};
	if (settings.identity === 'email' || settings.identity === 'email_or_phone') {
		add('email', normalizeEmailIdentity(lead.email));
	}
	if (settings.identity === 'phone' || settings.identity === 'email_or_phone') {
		add('phone', normalizePhoneIdentity(lead.phone, settings.default_phone_region));
	}
	if (settings.identity === 'payload') {
		const { idempotency_key: _ignored, ...rest } = lead;
		add('payload', canonicalJson(rest));
	}
	return result;
}

export function hashIdentity(match: IdentityMatch, value: string, salt: string): string {
	return createHash('sha256').update(`${match}:${value}${salt}`).digest('hex');
}

export type { IdentityMatch, PersonIdentity };
