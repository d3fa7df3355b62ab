import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CrmClient } from '../crm/crm-client.js';
import type { Sql } from '../db/connection.js';
import { dlqDepth } from '../db/dlq.js';
import { pendingSummary } from '../db/outcome-events.js';
import { pendingErasureSummary } from '../db/privacy.js';
import { queuedCount } from '../db/runs.js';
import { sharedReading } from './shared-reading.js';

/**
 * /metrics needs no token, so its database gauges are read by one set of queries at a time and
 * reused this long: however often it is scraped, the database sees at most one reading a second.
 */
const DATABASE_READING_MAX_AGE_MS = 1000;

/**
 * The processor's Prometheus metrics, on a registry of its own (one per processor instance).
 * `now`: the processor's clock, the one the database's times are compared with (db/clock.ts).
 */
export function createMetrics(sql: Sql, now: () => Date) {
	const registry = new Registry();
	const database = sharedReading(
		async () => ({
			dlq: await dlqDepth(sql),
			events: await pendingSummary(sql),
			queued: await queuedCount(sql),
			erasures: await pendingErasureSummary(sql),
		}),
		DATABASE_READING_MAX_AGE_MS,
	);
	const requests = new Counter({
		name: 'lih_http_requests_total',
		help: 'HTTP requests by route and status',
		labelNames: ['method', 'route', 'status'] as const,
		registers: [registry],
	});
	const leads = new Counter({
		name: 'lih_leads_total',
		help: 'Leads answered by outcome (accepted, duplicate, rejected, failed)',
		labelNames: ['outcome'] as const,
		registers: [registry],
	});
	const delivery = new Histogram({
		name: 'lih_crm_delivery_seconds',
		help: 'CRM delivery attempt latency by result',
		labelNames: ['result'] as const,
		buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
		registers: [registry],
	});
	new Gauge({
		name: 'lih_dlq_items',
		help: 'DLQ items by status',
		labelNames: ['status'] as const,
		registers: [registry],
		async collect() {
			for (const [status, count] of Object.entries((await database()).dlq))
				this.set({ status }, count);
		},
	});

	new Gauge({
		name: 'lih_outcome_events_pending',
		help: 'Outcome events not yet acknowledged by the receiver (EVENTS_URL), by type',
		labelNames: ['type'] as const,
		registers: [registry],
		async collect() {
			this.reset();
			const summary = (await database()).events;
			for (const [type, count] of Object.entries(summary.by_type)) this.set({ type }, count);
		},
	});
	new Gauge({
		name: 'lih_outcome_events_oldest_pending_seconds',
		help: 'Age of the oldest unacknowledged outcome event (0: none pending)',
		registers: [registry],
		// its own collect: prom-client collects the metrics at once, so a value set by another
		// metric's collect would be read before it is set (one scrape late)
		async collect() {
			const oldest = (await database()).events.oldest_pending_at;
			this.set(oldest ? (now().getTime() - oldest.getTime()) / 1000 : 0);
		},
	});
	new Gauge({
		name: 'lih_runs_queued',
		help: 'Leads answered on store and waiting for a deliverer',
		registers: [registry],
		async collect() {
			this.set((await database()).queued);
		},
	});

	new Gauge({
		name: 'lih_privacy_erasures_pending',
		help: 'Erasures whose CRM part is not done yet (retried until the CRM confirms)',
		registers: [registry],
		async collect() {
			this.set((await database()).erasures.pending);
		},
	});
	new Gauge({
		name: 'lih_privacy_erasure_oldest_pending_seconds',
		help: 'Age of the oldest erasure still waiting for the CRM (0: none pending)',
		registers: [registry],
		async collect() {
			const oldest = (await database()).erasures.oldest_requested_at;
			this.set(oldest ? Math.max(0, (now().getTime() - oldest.getTime()) / 1000) : 0);
		},
	});

	return {
		registry,
		/** Reports this version in force (every process of a deployment should show the same). */
		watchRulesVersion(version: () => number) {
			new Gauge({
				name: 'lih_rules_version',
				help: 'The rules version in force in this process',
				registers: [registry],
				collect() {
					this.set(version());
				},
			});
		},
		countRequest: (method: string, route: string, status: number) =>
			requests.inc({ method, route, status: String(status) }),
		countLead: (outcome: string) => leads.inc({ outcome }),
		/** The CRM client, timing every attempt. */
		instrument(crm: CrmClient): CrmClient {
			return {
				async upsert(payload) {
					const result = await crm.upsert(payload);
					delivery.observe({ result: result.ok ? 'ok' : result.reason }, result.durationMs / 1000);
					return result;
				},
				close: () => crm.close(),
			};
		},
	};
}

export type Metrics = ReturnType<typeof createMetrics>;
