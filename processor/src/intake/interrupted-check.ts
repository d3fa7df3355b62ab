import { claimPerson, uncheckedExpiredRuns, type UncheckedRun } from '../db/person-identities.js';
import type { IntakeDeps } from './intake-service.js';
import { parseLeadBody } from './lead-body.js';
import type { Ruleset } from './ruleset.js';
import { personIdentities } from './person-identity.js';
import { prepareLead } from './prepare-lead.js';

export type InterruptedCheckDeps = Pick<
	IntakeDeps,
	'sql' | 'cipher' | 'rules' | 'emailHashSalt' | 'leadLimits' | 'deadlineMs'
>;

const BATCH = 1000;

/**
 * The same-person check for runs whose check never finished (uncheckedExpiredRuns), with the
 * recovery's cutoff and lease time: a run the recovery would hand to the DLQ is first checked
 * under the rules in force, so a processor that died between the insert and the check cannot
 * make a second CRM record of one person. A run found to be the same person again is marked as
 * the intake would have marked it (policy drop: `duplicate`, and the recovery leaves it); the
 * first of a person records its identities. Returns how many were the same person again.
 */
export async function checkInterruptedRuns(
	deps: InterruptedCheckDeps,
	expired: { cutoff: Date; now: Date },
	pageSize = BATCH,
): Promise<number> {
	const ruleset = deps.rules.current();
	if (ruleset.duplicates.window_hours === 0) return 0;
	let samePerson = 0;
	for (let after: UncheckedRun | null = null; ; ) {
		const page = await uncheckedExpiredRuns(deps.sql, { ...expired, limit: pageSize, after });
		for (const run of page) {
			if (await isSamePersonAgain(deps, run, ruleset)) samePerson += 1;
		}
		if (page.length < pageSize) return samePerson;
		after = page.at(-1)!;
	}
}

/** Checks one run as the intake would have; true when it was the same person again. */
async function isSamePersonAgain(
	deps: InterruptedCheckDeps,
	run: UncheckedRun,
	{ rules, duplicates }: Ruleset,
): Promise<boolean> {
	let identities;
	try {
		const lead = prepareLead(parseLeadBody(deps.cipher.decrypt(run.sealed_lead), deps.leadLimits), {
			rules,
			emailHashSalt: deps.emailHashSalt,
		});
		identities = personIdentities(lead.normalized, duplicates, deps.emailHashSalt);
	} catch {
		return false; // unreadable: the retry settles it as the DLQ settles any unreadable lead
	}
	if (identities.length === 0) return false;
	const same = await claimPerson(
		deps.sql,
		{
			runId: run.run_id,
			correlationId: run.correlation_id,
			identities,
			windowHours: duplicates.window_hours,
			policy: duplicates.policy,
			queue: false,
		},
		deps.deadlineMs,
	);
	return same !== null;
}
