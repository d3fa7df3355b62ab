import type { Sql } from '../db/connection.js';
import { recoverExpiredRuns } from '../db/transitions.js';

export interface RecoveryDeps {
	sql: Sql;
	now: () => Date;
	/** How long an accepted run belongs to the request that is delivering it. */
	acceptedLeaseSeconds: number;
}

const BATCH = 1000;
const MESSAGE = 'The delivery was interrupted (the processor stopped or lost its database write)';

/**
 * Runs left `accepted` past their lease were being delivered by a processor that died (or whose
 * last write failed): each becomes `failed` with an `open` DLQ item (reason `interrupted`) due
 * at once, audited as `run_recovered`. Re-delivery is safe even if the CRM got the lead: it
 * upserts by key. Called by every retry-due and once at processor start. Returns how many.
 */
export async function recoverInterrupted(deps: RecoveryDeps): Promise<number> {
	const now = deps.now();
	const cutoff = new Date(now.getTime() - deps.acceptedLeaseSeconds * 1000);
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
