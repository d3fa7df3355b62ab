import { hashEmail, maskEmail } from '../pii/email.js';
import { maskEmailsIn, sanitize } from '../pii/sanitize.js';
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

function consentOf(lead: JsonObject): ConsentRecord | null {
	const consent = lead.consent;
	if (typeof consent === 'boolean') return { given: consent, timestamp: null, text_version: null };
	if (consent === null || typeof consent !== 'object' || Array.isArray(consent)) return null;
	// kept after an erasure (the proof of consent), so never a plain e-mail address, as anywhere
	// in the record
	const text = (value: unknown) =>
		typeof value === 'string' && value !== '' ? maskEmailsIn(value) : null;
	return {
		given: consent.given === true,
		timestamp: text(consent.timestamp),
		text_version: text(consent.text_version),
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
		consent: consentOf(lead),
	};
}
