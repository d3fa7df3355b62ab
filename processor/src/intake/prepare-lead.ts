import { hashEmail, maskEmail } from '../pii/email.js';
import { sanitize } from '../pii/sanitize.js';
import { fingerprintLead } from './fingerprint.js';
import type { JsonObject } from '../json.js';
import { normalizeLead } from './normalize.js';
import type { CompiledRules, RuleVerdict } from './rules.js';
import type { ConsentRecord } from '../vocabulary.js';

export interface LeadPolicy {
	rules: CompiledRules;
	emailHashSalt: string;
}

/** Everything the processor decides about a lead before touching the database. */
export interface PreparedLead {
	normalized: JsonObject;
	fingerprint: string;
	verdict: RuleVerdict;
	emailHash: string | null;
	emailMasked: string | null;
	/** The normalised lead with personal fields masked: safe for audit rows and DLQ entries. */
	sanitized: JsonObject;
	/** What the lead consented to, when it says. */
	consent: ConsentRecord | null;
}

/**
 * A date (and time), as ISO 8601 writes it, or Unix seconds or milliseconds of 2001-2033 (ten or
 * thirteen digits beginning with 1: a phone number is neither).
 */
const CONSENT_TIMESTAMP =
	/^(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?|1\d{9}(?:\d{3})?)$/;
/**
 * A version label, where the rules name no versions: `privacy-2026-01`, `v3.1`, `terms/2025`;
 * letters and digits both (a name has no digits, a phone number no letters), no run of seven
 * digits or more (a phone number inside a label).
 */
const CONSENT_TEXT_VERSION =
	/^(?=[^\d]*\d)(?=[^A-Za-z]*[A-Za-z])(?!.*\d{7})[A-Za-z0-9][A-Za-z0-9._:/+-]{0,99}$/;
/** What is kept of a consent field that is no timestamp or version label. */
export const CONSENT_WITHHELD = '[withheld]';

/**
 * What the lead says was consented to. Kept after an erasure (the proof of consent), so only in
 * forms that name no one: a field that is free text (a name, a phone number, a note) is kept as
 * CONSENT_WITHHELD.
 */
function consentOf(lead: JsonObject, versions: ReadonlySet<string> | null): ConsentRecord | null {
	const consent = lead.consent;
	if (typeof consent === 'boolean') return { given: consent, timestamp: null, text_version: null };
	if (consent === null || typeof consent !== 'object' || Array.isArray(consent)) return null;
	const kept = (value: unknown, keep: (text: string) => boolean) =>
		typeof value === 'string' && value !== '' ? (keep(value) ? value : CONSENT_WITHHELD) : null;
	return {
		given: consent.given === true,
		timestamp: kept(consent.timestamp, (text) => CONSENT_TIMESTAMP.test(text)),
		// the versions the rules name are kept as they are, whatever their form
		text_version: kept(consent.text_version, (text) =>
			versions ? versions.has(text) : CONSENT_TEXT_VERSION.test(text),
		),
	};
}

export function prepareLead(body: JsonObject, policy: LeadPolicy): PreparedLead {
	const lead = normalizeLead(body);
	const email = typeof lead.email === 'string' && lead.email !== '' ? lead.email : null;
	return {
		normalized: lead,
		fingerprint: fingerprintLead(body),
		verdict: policy.rules.evaluate(lead),
		emailHash: email ? hashEmail(email, policy.emailHashSalt) : null,
		emailMasked: email ? maskEmail(email) : null,
		sanitized: sanitize(lead) as JsonObject,
		consent: consentOf(lead, policy.rules.consentTextVersions),
	};
}
