import { recoverExpiredRuns } from '../db/transitions.js';
import { checkInterruptedRuns, type InterruptedCheckDeps } from '../intake/interrupted-check.js';
import type { IntakeDeps } from '../intake/intake-service.js';

/** acceptedLeaseSeconds: how long an accepted run belongs to the request that is delivering it. */
export type RecoveryDeps = InterruptedCheckDeps & Pick<IntakeDeps, 'now' | 'acceptedLeaseSeconds'>;

const BATCH = 1000;
const MESSAGE = 'The delivery was interrupted (the processor stopped or lost its database write)';

/**
 * Runs left `accepted` past their lease were being delivered by a processor that died (or whose
 * last write failed): each becomes `failed` with an `open` DLQ item (reason `interrupted`) due
 * at once, audited as `run_recovered`. Re-delivery is safe even if the CRM got the lead: it
 * upserts by key. A run whose same-person check never ran is checked first: one found to be the
 * same person again is a `duplicate`, not recovered. Called by every retry-due and once at
 * processor start. Returns how many were recovered.
 */
export async function recoverInterrupted(deps: RecoveryDeps): Promise<number> {
	// one moment for the check and the recovery: a run whose lease ran out while the check was
	// under way would otherwise reach the DLQ (and the CRM) unchecked
	const now = deps.now();
	const cutoff = new Date(now.getTime() - deps.acceptedLeaseSeconds * 1000);
	await checkInterruptedRuns(deps, { now, cutoff });
	let recovered = 0;
	for (;;) {
		const count = await recoverExpiredRuns(deps.sql, {
			cutoff,
			now,
			limit: BATCH,
			leaseSeconds: deps.acceptedLeaseSeconds,
			errorMessage: MESSAGE,
		});
		recovered += count;
		if (count < BATCH) return recovered;
	}
}
