import { z } from 'zod';
import { HttpError } from '../errors.js';
import { hashEmail, maskEmail } from '../pii/email.js';
import { sanitize } from '../pii/sanitize.js';
import { fingerprintLead } from './fingerprint.js';
import { LeadSchema, type JsonObject } from './lead-schema.js';
import { normalizeLead } from './normalize.js';
import type { CompiledRules, RuleVerdict } from './rules.js';

/** Invalid JSON -> 400; JSON that is not a lead object, or known fields of the wrong type -> 422. */
export function parseLeadBody(rawBody: Buffer): JsonObject {
	let parsed: unknown;
	try {
		parsed = JSON.parse(rawBody.toString('utf8'));
	} catch {
		throw new HttpError(400, 'invalid_json', 'Request body is not valid JSON');
	}
	const result = LeadSchema.safeParse(parsed);
	if (!result.success) {
		throw new HttpError(422, 'invalid_lead', 'Lead payload does not have the expected shape', {
			issues: result.error.issues.map(describeIssue),
		});
	}
	return parsed as JsonObject;
}

function describeIssue(issue: z.core.$ZodIssue) {
	return { path: issue.path.join('.') || '(body)', code: issue.code, message: issue.message };
}

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
	};
}
