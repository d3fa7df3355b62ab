import { randomUUID } from 'node:crypto';
import type { CircuitStatus } from '../crm/circuit-breaker.js';
import { attemptRecordOf } from '../crm/crm-client.js';
import { toCrmRequest } from '../intake/crm-request.js';
import type { AuditEvent } from '../db/audit-events.js';
import type { AttemptRecord } from '../db/delivery-attempts.js';
import {
	claimDue,
	claimOne,
	claimReplayable,
	countReplayable,
	releaseClaimed,
	type ClaimedItem,
	type ReplayFilter,
	type Settlement,
} from '../db/dlq.js';
import { settleRedelivery } from '../db/transitions.js';
import {
	attemptFailed,
	dlqDead,
	dlqResolved,
	dlqRetried,
	upserted,
} from '../crm/delivery-events.js';
import type { IntakeDeps } from '../intake/intake-service.js';
import { parseLeadBody } from '../intake/lead-body.js';
import { prepareLead } from '../intake/prepare-lead.js';
import { batchWorstCaseMs, mapConcurrently } from '../concurrency.js';
import { nextRetryAt } from '../crm/backoff.js';
import type { Logger } from '../logger.js';
import { recoverInterrupted } from './recovery.js';

/** What intake delivery needs, plus how retries run. */
export interface RetryDeps extends IntakeDeps {
	/** Deliveries in flight at once. */
	concurrency: number;
	/** Shortest lease of a claim; a claim's lease also covers its whole batch at the CRM timeout. */
	claimLeaseSeconds: number;
	crmTimeoutMs: number;
	/** An item whose record could not be written is logged here, and the pass goes on. */
	logger: Logger;
}

export interface RetryOutcome {
	dlq_id: number;
	run_id: string;
	/**
	 * `deferred`: CRM calls were paused meanwhile; the item waits, no retry counted.
	 * `unsettled`: its outcome could not be recorded (the database); it stays claimed until its
	 * lease runs out and is then tried again (the CRM upserts by key: still one record).
	 */
	outcome: 'resolved' | 'retried' | 'dead' | 'deferred' | 'lease_lost' | 'unsettled';
	reason?: string;
	status_code?: number | null;
	next_retry_at?: string;
	/** Resolved without a call: this newer run of the same CRM record was delivered first. */
	superseded_by?: string;
}

export interface RetrySummary {
	claimed: number;
	resolved: number;
	retried: number;
	dead: number;
	/** Items that just died: the DLQ workflow alerts on each. */
	dead_items: RetryOutcome[];
}

export interface RetryDueSummary extends RetrySummary {
	/** Runs left accepted past their lease, handed to the DLQ by this call. */
	recovered: number;
	/** While CRM calls are paused nothing is claimed; retries resume once a probe succeeds. */
	circuit: CircuitStatus;
}

/**
 * POST /internal/dlq/retry-due: recovers interrupted runs, then claims up to `limit` due items
 * and re-delivers each once. While the CRM's circuit is open nothing is claimed (no retry is
 * used up by an outage); half-open, one item goes first as the probe, and the rest follow in
 * the same call if it succeeds.
 */
export async function retryDue(deps: RetryDeps, limit: number): Promise<RetryDueSummary> {
	// a recovery that fails (a run's same-person check held up past its deadline) is the next
	// pass's: the items due now are retried all the same
	const recovered = await recoverInterrupted(deps).catch((error: unknown) => {
		deps.logger.warn(
			{ err: error },
			'interrupted runs could not be recovered in this pass; the next pass tries again',
		);
		return 0;
	});
	const before = deps.crm.status();
	if (before.state === 'open') return { ...summarize(0, []), recovered, circuit: before };

	const probing = before.state === 'half-open';
	const items = await claimDue(deps.sql, leaseFor(deps, probing ? 1 : limit));
	const outcomes = await mapConcurrently(items, deps.concurrency, (item) =>
		redeliverOne(deps, item, 'retry'),
	);
	if (probing && items.length === 1 && limit > 1 && deps.crm.status().state === 'closed') {
		const rest = await claimDue(deps.sql, leaseFor(deps, limit - 1));
		items.push(...rest);
		outcomes.push(
			...(await mapConcurrently(rest, deps.concurrency, (item) =>
				redeliverOne(deps, item, 'retry'),
			)),
		);
	}
	return { ...summarize(items.length, outcomes), recovered, circuit: deps.crm.status() };
}

/** An operator's "retry now" for one item; null when it cannot be claimed (resolved, in flight). */
export async function retryOne(deps: RetryDeps, dlqId: number): Promise<RetryOutcome | null> {
	const item = await claimOne(deps.sql, dlqId, leaseFor(deps, 1));
	return item ? redeliverOne(deps, item, 'operator') : null;
}

export type ReplaySummary =
	| { dry_run: true; matched: number }
	| ({ dry_run: false; matched: number; items: RetryOutcome[] } & RetrySummary);

/**
 * POST /internal/dlq/replay: re-delivers up to `limit` items matching the filter now. Claims are
 * exclusive (an item in flight is skipped, a resolved one no longer matches), so two replays of
 * the same items at once never deliver one twice.
 */
export async function replay(
	deps: RetryDeps,
	filter: ReplayFilter,
	options: { limit: number; dryRun: boolean },
): Promise<ReplaySummary> {
	const matched = await countReplayable(deps.sql, filter);
	if (options.dryRun) return { dry_run: true, matched };
	const items = await claimReplayable(deps.sql, filter, leaseFor(deps, options.limit));
	const outcomes = await mapConcurrently(items, deps.concurrency, (item) =>
		redeliverOne(deps, item, 'operator'),
	);
	return { dry_run: false, matched, ...summarize(items.length, outcomes), items: outcomes };
}

function leaseFor(deps: RetryDeps, batchSize: number) {
	const now = deps.now();
	const leaseMs = Math.max(
		deps.claimLeaseSeconds * 1000,
		batchWorstCaseMs(batchSize, deps.concurrency, deps.crmTimeoutMs, deps.deadlineMs),
	);
	return {
		now,
		leaseUntil: new Date(now.getTime() + leaseMs),
		leaseToken: randomUUID(),
		limit: batchSize,
	};
}

/** One item of a batch: an error recording it is that item's, not the whole pass's. */
async function redeliverOne(
	deps: RetryDeps,
	item: ClaimedItem,
	trigger: 'retry' | 'operator',
): Promise<RetryOutcome> {
	try {
		return await redeliver(deps, item, trigger);
	} catch (error) {
		deps.logger.error(
			{ err: error, dlq_id: item.dlqId, run_id: item.runId },
			'a DLQ item could not be settled; it is tried again after its lease',
		);
		return { dlq_id: item.dlqId, run_id: item.runId, outcome: 'unsettled' };
	}
}

async function redeliver(
	deps: RetryDeps,
	item: ClaimedItem,
	trigger: 'retry' | 'operator',
): Promise<RetryOutcome> {
	const base = { dlq_id: item.dlqId, run_id: item.runId };
	if (item.runStatus === 'processed') {
		// its own intake finished after all (it outlived its lease): nothing left to deliver
		return resolve(deps, item, base, [], null);
	}
	if (item.supersededBy !== null) {
		// policy update: newer details of the same person reached the CRM while this one waited;
		// sending it now would write its older details over them
		return resolveSuperseded(deps, item, base, item.supersededBy);
	}
	const request = item.sealedLead ? crmRequestOf(deps, item, item.sealedLead) : null;
	if (!request) {
		// nothing can be sent: a person must look at it
		const [reason, lastError] = item.sealedLead
			? ['sealed_lead_unreadable', 'the stored lead cannot be decrypted or read']
			: ['sealed_lead_missing', 'the raw lead is no longer stored'];
		return settleFailure(deps, item, null, [], { status: 'dead', lastError }, base, reason);
	}
	if (deps.now().getTime() + deps.crmTimeoutMs + deps.deadlineMs > item.leaseUntil.getTime()) {
		// the batch ran slower than its lease allowed (a slow database): a call now could outlast
		// the claim and run beside another processor's, or after an erasure that trusted the lease.
		// Not sent: the item is due again at once, no retry used
		const now = deps.now();
		const released = await releaseClaimed(deps.sql, item, now);
		return {
			...base,
			outcome: released ? 'deferred' : 'lease_lost',
			next_retry_at: now.toISOString(),
		};
	}
	const result = await deps.crm.upsert(request.body);
	if (result.ok) {
		return resolve(deps, item, base, [upserted(result, trigger, request.droppedAttributes)], {
			trigger,
			attempt: attemptRecordOf(result),
			crmId: result.crmId,
		});
	}
	if (result.skipped) {
		// calls were paused after this item was claimed: it waits for the circuit, no retry used
		const until = new Date(deps.crm.status().until ?? deps.now());
		const released = await releaseClaimed(deps.sql, item, until);
		return {
			...base,
			outcome: released ? 'deferred' : 'lease_lost',
			next_retry_at: until.toISOString(),
		};
	}

	const retries = item.retryCount + 1;
	const exhausted = retries >= deps.backoff.maxRetries;
	const settlement: Settlement =
		result.retryable && !exhausted
			? {
					status: 'open',
					nextRetryAt: nextRetryAt(deps.now(), retries, deps.backoff, result.retryAfterSeconds),
					lastError: result.error,
				}
			: { status: 'dead', lastError: result.error };
	const reason = result.retryable && exhausted ? 'retries_exhausted' : result.reason;
	const attempt = { trigger, record: attemptRecordOf(result) };
	return settleFailure(
		deps,
		item,
		attempt,
		attemptFailed(result, trigger),
		settlement,
		base,
		reason,
		result.statusCode,
	);
}

/** Delivered (or found delivered): item resolved and run processed, one statement. */
async function resolve(
	deps: RetryDeps,
	item: ClaimedItem,
	base: { dlq_id: number; run_id: string },
	events: AuditEvent[],
	delivery: { trigger: 'retry' | 'operator'; attempt: AttemptRecord; crmId: string | null } | null,
): Promise<RetryOutcome> {
	const resolved = dlqResolved({
		dlq_id: item.dlqId,
		by: delivery ? 'retry' : 'intake',
		retry_count: item.retryCount + (delivery ? 1 : 0),
		note: null,
	});
	const settled = await settleRedelivery(
		deps.sql,
		item,
		{ status: 'resolved', note: null },
		delivery
			? { delivered: { ...delivery, events: [...events, resolved] } }
			: { alreadyDelivered: { events: [resolved] } },
	);
	return { ...base, outcome: settled ? 'resolved' : 'lease_lost' };
}

/** Not sent again (a newer run of the same CRM record was delivered): resolved, raw lead dropped. */
async function resolveSuperseded(
	deps: RetryDeps,
	item: ClaimedItem,
	base: { dlq_id: number; run_id: string },
	newer: string,
): Promise<RetryOutcome> {
	const note = `superseded by run ${newer}, delivered first with newer details`;
	const resolved = dlqResolved({
		dlq_id: item.dlqId,
		by: 'superseded',
		retry_count: item.retryCount,
		note,
	});
	const settled = await settleRedelivery(
		deps.sql,
		item,
		{ status: 'resolved', note, supersededBy: newer },
		{ superseded: { events: [resolved] } },
	);
	return settled
		? { ...base, outcome: 'resolved', superseded_by: newer }
		: { ...base, outcome: 'lease_lost' };
}

/** A failed re-delivery: the item rescheduled or dead, its attempt and events, one statement. */
async function settleFailure(
	deps: RetryDeps,
	item: ClaimedItem,
	attempt: { trigger: 'retry' | 'operator'; record: AttemptRecord } | null,
	attemptEvents: AuditEvent[],
	settlement: Exclude<Settlement, { status: 'resolved' }>,
	base: { dlq_id: number; run_id: string },
	reason: string,
	statusCode: number | null = null,
): Promise<RetryOutcome> {
	const retryCount = item.retryCount + 1;
	const retried = settlement.status === 'open';
	const event = retried
		? dlqRetried({
				dlq_id: item.dlqId,
				retry_count: retryCount,
				reason,
				status_code: statusCode,
				next_retry_at: settlement.nextRetryAt.toISOString(),
			})
		: dlqDead({ dlq_id: item.dlqId, retry_count: retryCount, reason, status_code: statusCode });
	const settled = await settleRedelivery(deps.sql, item, settlement, {
		failed: {
			attempt: attempt
				? { runId: item.runId, trigger: attempt.trigger, attempt: attempt.record }
				: null,
			events: [...attemptEvents, event],
		},
	});
	if (!settled) return { ...base, outcome: 'lease_lost' };
	return retried
		? {
				...base,
				outcome: 'retried',
				reason,
				status_code: statusCode,
				next_retry_at: settlement.nextRetryAt.toISOString(),
			}
		: { ...base, outcome: 'dead', reason, status_code: statusCode };
}

function summarize(claimed: number, outcomes: RetryOutcome[]): RetrySummary {
	const count = (outcome: RetryOutcome['outcome']) =>
		outcomes.filter((item) => item.outcome === outcome).length;
	return {
		claimed,
		resolved: count('resolved'),
		retried: count('retried'),
		dead: count('dead'),
		dead_items: outcomes.filter((item) => item.outcome === 'dead'),
	};
}

/** The CRM request rebuilt from the encrypted raw lead; null if the lead cannot be read back. */
function crmRequestOf(deps: RetryDeps, item: ClaimedItem, sealedLead: Buffer) {
	try {
		// mapped by the version in force now: a corrected mapping applies to what waits in the DLQ
		const { rules, mapping } = deps.rules.current();
		const lead = prepareLead(parseLeadBody(deps.cipher.decrypt(sealedLead), deps.leadLimits), {
			rules,
			emailHashSalt: deps.emailHashSalt,
		});
		return toCrmRequest(lead.normalized, mapping, item.runId, item.crmKey);
	} catch {
		return null;
	}
}
