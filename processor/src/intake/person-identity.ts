import { createHash } from 'node:crypto';
// core + the small metadata as a JS module: the min entry imports its metadata as JSON, which
// Node and jest warn about on every import
import {
	getCountryCallingCode,
	isSupportedCountry,
	parsePhoneNumberFromString,
	type CountryCode,
	type PhoneNumber,
} from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { canonicalJson } from './fingerprint.js';
import type { JsonObject } from '../json.js';
import { normalizeEmail } from '../pii/email.js';
import type { DuplicateSettings } from './ruleset.js';
import type { IdentityMatch, PersonIdentity } from '../vocabulary.js';

/*
 * Who "the same person" is (docs/adr/0010-same-person-identity.md). A lead yields up to two
 * identities, each kept only as a salted hash (the salt is EMAIL_HASH_SALT, as for email_hash):
 *  - email: trimmed and case-folded;
 *  - phone: E.164, numbers without a country code read in the document's default region (digits
 *    that begin with that region's own country code and make a valid number with it are read
 *    as international: exports often drop the "+");
 *  - payload: the canonical JSON of the normalised lead (idempotency_key left out).
 * The identity setting chooses which count: email_or_phone (either matches), email, phone, payload.
 */

export function normalizeEmailIdentity(value: unknown): string | null {
	if (typeof value !== 'string') return null;
	const email = normalizeEmail(value);
	return email.includes('@') ? email : null;
}

/** E.164, or null when the text is not a possible phone number. */
export function normalizePhoneIdentity(value: unknown, defaultRegion: string): string | null {
	if (typeof value !== 'string' && typeof value !== 'number') return null;
	const text = String(value).trim();
	if (text === '') return null;
	// the rules document refuses a region without phone numbers; one stored by other means reads
	// only international numbers rather than failing every lead
	const region = isSupportedCountry(defaultRegion as CountryCode, metadata)
		? (defaultRegion as CountryCode)
		: undefined;
	const parsed =
		(region && withoutPlus(text, region)) ||
		parsePhoneNumberFromString(text, { defaultCountry: region }, metadata);
	if (!parsed || !parsed.isPossible()) return null;
	return parsed.number;
}

/**
 * "4917155551234" in region DE: the region's country code written without "+" (a national
 * number is written with its trunk prefix, "0171…", or too short to begin so). Undefined unless
 * the digits make a valid number of the region that way.
 */
function withoutPlus(text: string, region: CountryCode): PhoneNumber | undefined {
	if (!/^[1-9][\d\s()./-]*$/.test(text)) return undefined;
	const digits = text.replace(/\D/g, '');
	if (!digits.startsWith(getCountryCallingCode(region, metadata))) return undefined;
	const international = parsePhoneNumberFromString(`+${digits}`, metadata);
	return international?.isValid() && international.country === region ? international : undefined;
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
