import { claimPerson, uncheckedExpiredRuns } from '../db/person-identities.js';
import type { IntakeDeps } from './intake-service.js';
import { parseLeadBody } from './lead-body.js';
import { personIdentities } from './person-identity.js';
import { prepareLead } from './prepare-lead.js';

export type InterruptedCheckDeps = Pick<
	IntakeDeps,
	| 'sql'
	| 'cipher'
	| 'rules'
	| 'emailHashSalt'
	| 'leadLimits'
	| 'deadlineMs'
	| 'now'
	| 'acceptedLeaseSeconds'
>;

const BATCH = 1000;

/**
 * The same-person check for runs whose check never finished (uncheckedExpiredRuns): a run the
 * recovery would hand to the DLQ is first checked under the rules in force, so a processor that
 * died between the insert and the check cannot make a second CRM record of one person. A run
 * found to be the same person again is marked as the intake would have marked it (policy drop:
 * `duplicate`, and the recovery leaves it); the first of a person records its identities. Returns
 * how many were the same person again.
 */
export async function checkInterruptedRuns(deps: InterruptedCheckDeps): Promise<number> {
	const { rules, duplicates } = deps.rules.current();
	if (duplicates.window_hours === 0) return 0;
	const now = deps.now();
	const cutoff = new Date(now.getTime() - deps.acceptedLeaseSeconds * 1000);
	let samePerson = 0;
	for (const run of await uncheckedExpiredRuns(deps.sql, { cutoff, now, limit: BATCH })) {
		let identities;
		try {
			const lead = prepareLead(
				parseLeadBody(deps.cipher.decrypt(run.sealed_lead), deps.leadLimits),
				{
					rules,
					emailHashSalt: deps.emailHashSalt,
				},
			);
			identities = personIdentities(lead.normalized, duplicates, deps.emailHashSalt);
		} catch {
			continue; // unreadable: the retry settles it as the DLQ settles any unreadable lead
		}
		if (identities.length === 0) continue;
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
		if (same) samePerson += 1;
	}
	return samePerson;
}
