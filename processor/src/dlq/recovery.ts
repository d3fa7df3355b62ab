import { insertEventRows, type EventRow } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { insertDlqEntries } from '../db/dlq.js';
import { failExpiredRuns } from '../db/runs.js';
import { dlqCreated } from '../delivery/events.js';

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
		const count = await deps.sql.begin(async (tx) => {
			const runs = await failExpiredRuns(tx, { cutoff, limit: BATCH, errorMessage: MESSAGE });
			if (runs.length === 0) return 0;
			const items = await insertDlqEntries(
				tx,
				runs.map((run) => ({
					runId: run.run_id,
					reason: 'interrupted',
					payload: { source: run.source, idempotency_key: run.idempotency_key, recovered: true },
					status: 'open' as const,
					nextRetryAt: now,
					lastError: MESSAGE,
				})),
			);
			const itemOf = new Map(items.map((item) => [item.run_id, item.dlq_id]));
			const events: EventRow[] = runs.flatMap((run) =>
				[
					{
						type: 'run_recovered' as const,
						actor: 'system' as const,
						payload: {
							reason: 'interrupted' as const,
							accepted_at: run.received_at.toISOString(),
							lease_seconds: deps.acceptedLeaseSeconds,
						},
					},
					...dlqCreated(itemOf.get(run.run_id)!, 'interrupted', 'open', now, 'system'),
				].map((event) => ({ ...event, run_id: run.run_id, correlation_id: run.correlation_id })),
			);
			await insertEventRows(tx, events);
			return runs.length;
		});
		recovered += count;
		if (count < BATCH) return recovered;
	}
}
