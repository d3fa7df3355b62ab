import { randomUUID } from 'node:crypto';
import { attemptRecordOf } from '../crm/crm-client.js';
import { toCrmRequest } from '../crm/crm-request.js';
import { insertEvents, type AuditEvent } from '../db/audit-events.js';
import { claimDue, claimOne, settleClaimed, type ClaimedItem, type Settlement } from '../db/dlq.js';
import { insertAttempts, markProcessed, type AttemptRecord } from '../db/runs.js';
import type { IntakeDeps } from '../intake/intake-service.js';
import { parseLeadBody, prepareLead } from '../intake/prepare-lead.js';
import { nextRetryAt } from './backoff.js';

/** What intake delivery needs, plus how retries run. */
export interface RetryDeps extends IntakeDeps {
	/** Deliveries in flight at once. */
	concurrency: number;
	/** Shortest lease; a claim's lease also covers its whole batch at the CRM timeout. */
	leaseSeconds: number;
	crmTimeoutMs: number;
}

export interface RetryOutcome {
	dlq_id: number;
	run_id: string;
	outcome: 'resolved' | 'retried' | 'dead' | 'lease_lost';
	reason?: string;
	status_code?: number | null;
	next_retry_at?: string;
}

export interface RetrySummary {
	claimed: number;
	resolved: number;
	retried: number;
	dead: number;
	/** Items that just died: the DLQ workflow alerts on each. */
	dead_items: RetryOutcome[];
}

/** POST /internal/dlq/retry-due: claims up to `limit` due items and re-delivers each once. */
export async function retryDue(deps: RetryDeps, limit: number): Promise<RetrySummary> {
	const items = await claimDue(deps.sql, leaseFor(deps, limit));
	const outcomes = await mapConcurrently(items, deps.concurrency, (item) =>
		redeliver(deps, item, 'retry'),
	);
	return summarize(items.length, outcomes);
}

/** An operator's "retry now" for one item; null when it cannot be claimed (resolved, in flight). */
export async function retryOne(deps: RetryDeps, dlqId: number): Promise<RetryOutcome | null> {
	const item = await claimOne(deps.sql, dlqId, leaseFor(deps, 1));
	return item ? redeliver(deps, item, 'operator') : null;
}

function leaseFor(deps: RetryDeps, batchSize: number) {
	const now = deps.now();
	const worstCaseMs = Math.ceil(batchSize / deps.concurrency + 1) * deps.crmTimeoutMs;
	const leaseMs = Math.max(deps.leaseSeconds * 1000, worstCaseMs);
	return {
		now,
		leaseUntil: new Date(now.getTime() + leaseMs),
		leaseToken: randomUUID(),
		limit: batchSize,
	};
}

async function redeliver(
	deps: RetryDeps,
	item: ClaimedItem,
	trigger: 'retry' | 'operator',
): Promise<RetryOutcome> {
	const base = { dlq_id: item.dlqId, run_id: item.runId };
	if (!item.sealedLead) {
		return settle(
			deps,
			item,
			null,
			{ status: 'dead', lastError: 'the raw lead is no longer stored' },
			base,
			'sealed_lead_missing',
		);
	}
	const request = crmRequestOf(deps, item, item.sealedLead);
	if (!request) {
		return settle(
			deps,
			item,
			null,
			{ status: 'dead', lastError: 'the stored lead cannot be decrypted or read' },
			base,
			'sealed_lead_unreadable',
		);
	}
	const result = await deps.crm.upsert(request.body);
	const attempt = attemptRecordOf(result);

	if (result.ok) {
		const settled = await deps.sql.begin(async (tx) => {
			if (!(await settleClaimed(tx, item, { status: 'resolved', note: null }, true))) return false;
			await markProcessed(tx, [
				{
					runId: item.runId,
					correlationId: item.correlationId,
					trigger,
					attempt,
					crmId: result.crmId,
					events: [
						{
							type: 'crm_upserted',
							actor: 'processor',
							payload: {
								crm_id: result.crmId,
								status_code: result.statusCode,
								duration_ms: result.durationMs,
								trigger,
							},
						},
						{
							type: 'dlq_resolved',
							actor: 'processor',
							payload: { dlq_id: item.dlqId, retry_count: item.retryCount + 1 },
						},
					],
				},
			]);
			return true;
		});
		return { ...base, outcome: settled ? 'resolved' : 'lease_lost' };
	}

	const retries = item.retryCount + 1;
	const exhausted = retries >= deps.backoff.maxRetries;
	const settlement: Settlement =
		result.retryable && !exhausted
			? {
					status: 'open',
					nextRetryAt: nextRetryAt(deps.now(), retries, deps.backoff),
					lastError: result.error,
				}
			: { status: 'dead', lastError: result.error };
	const reason = result.retryable
		? exhausted
			? 'retries_exhausted'
			: result.reason
		: result.reason;
	return settle(deps, item, attempt, settlement, base, reason, result.statusCode);
}

/** A failed re-delivery: the item rescheduled or dead, its attempt and events, one transaction. */
async function settle(
	deps: RetryDeps,
	item: ClaimedItem,
	attempt: AttemptRecord | null,
	settlement: Exclude<Settlement, { status: 'resolved' }>,
	base: { dlq_id: number; run_id: string },
	reason: string,
	statusCode: number | null = null,
): Promise<RetryOutcome> {
	const retried = settlement.status === 'open';
	const events: AuditEvent[] = retried
		? [
				{
					type: 'dlq_retried',
					actor: 'processor',
					payload: {
						dlq_id: item.dlqId,
						retry_count: item.retryCount + 1,
						reason,
						status_code: statusCode,
						next_retry_at: settlement.nextRetryAt.toISOString(),
					},
				},
			]
		: [
				{
					type: 'dlq_dead',
					actor: 'processor',
					payload: {
						dlq_id: item.dlqId,
						retry_count: item.retryCount + 1,
						reason,
						status_code: statusCode,
					},
				},
			];
	const settled = await deps.sql.begin(async (tx) => {
		if (!(await settleClaimed(tx, item, settlement, attempt !== null))) return false;
		if (attempt) await insertAttempts(tx, [{ runId: item.runId, trigger: 'retry', attempt }]);
		await insertEvents(tx, item.runId, item.correlationId, events);
		return true;
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
		const lead = prepareLead(parseLeadBody(deps.cipher.decrypt(sealedLead)), deps.policy);
		return toCrmRequest(lead.normalized, deps.mapping, item.runId, item.idempotencyKey);
	} catch {
		return null;
	}
}

async function mapConcurrently<T, R>(
	items: T[],
	concurrency: number,
	work: (item: T) => Promise<R>,
): Promise<R[]> {
	const results: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await work(items[index]!);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
	return results;
}
