import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startLocalStack } from '@lead-intake-hub/stack';
import { createLeadCipher } from '../src/pii/lead-cipher.js';

/*
 * `npm run bench:dlq`: retry-due draining 10,000 due DLQ items through the mock CRM, and KPI
 * compute for a day with 100,000 runs, on a throwaway database. DLQ_BENCH_ITEMS and
 * KPI_BENCH_RUNS change the sizes.
 */
const items = Number(process.env.DLQ_BENCH_ITEMS ?? 10_000);
const kpiRuns = Number(process.env.KPI_BENCH_RUNS ?? 100_000);

const alertsDir = await mkdtemp(join(tmpdir(), 'lih-dlq-bench-'));
const stack = await startLocalStack({
	throwaway: true,
	alertsDir,
	ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0 },
	processorEnv: { LOG_LEVEL: 'warn' },
});
const sql = postgres(stack.databaseUrl, { onnotice: () => undefined });
const internal = async (path: string, body: object) => {
	const response = await fetch(`${stack.urls.processor}${path}`, {
		method: 'POST',
		headers: {
			authorization: `Bearer ${stack.settings.SERVICE_TOKEN}`,
			'content-type': 'application/json',
		},
		body: JSON.stringify(body),
	});
	if (!response.ok)
		throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
	return response.json() as Promise<Record<string, unknown>>;
};

try {
	process.stderr.write(`seeding ${items} due DLQ items ...\n`);
	await seedDueItems(items);
	const started = performance.now();
	let drained = 0;
	let calls = 0;
	for (let claimed = -1; claimed !== 0; calls++) {
		claimed = (await internal('/internal/dlq/retry-due', {})).claimed as number;
		drained += claimed;
		process.stderr.write(`\r  drained ${drained}/${items}`);
	}
	const drainSeconds = (performance.now() - started) / 1000;
	const [check] =
		await sql`SELECT count(*) FILTER (WHERE status = 'resolved')::int AS resolved, count(*)::int AS total FROM dlq`;

	process.stderr.write(`\nseeding ${kpiRuns} runs for one day ...\n`);
	await sql`
		INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, received_at, processed_at, rejection_reasons)
		SELECT gen_random_uuid(), 'kpi-' || i, 'f', 'bench', s.status, r.at, CASE WHEN s.status = 'processed' THEN r.at + interval '40 ms' END,
			CASE WHEN s.status = 'rejected' THEN ARRAY['ZIP_NOT_66XXX'] END
		FROM generate_series(1, ${kpiRuns}) AS i,
			LATERAL (SELECT (ARRAY['processed', 'processed', 'processed', 'rejected', 'failed'])[1 + i % 5] AS status) s,
			LATERAL (SELECT timestamptz '2026-01-15 00:00:00+00' + (i % 86400) * interval '1 second' AS at) r`;
	await sql`ANALYZE runs`;
	const kpiStarted = performance.now();
	const kpi = await internal('/internal/kpi/compute-daily', { date: '2026-01-15' });
	const kpiMs = performance.now() - kpiStarted;

	console.log('\nDLQ and KPI benchmark (mock CRM on this machine)\n');
	console.log(
		`retry-due: ${drained} items drained in ${drainSeconds.toFixed(1)} s (${(drained / drainSeconds).toFixed(0)} items/s, ${calls} calls); resolved ${check!.resolved} of ${check!.total}`,
	);
	console.log(
		`kpi compute-daily: ${(kpi.row as { received_count: number }).received_count} runs in ${kpiMs.toFixed(0)} ms (including the report files)`,
	);
} finally {
	await sql.end();
	await stack.stop();
	await rm(alertsDir, { recursive: true, force: true });
}

/** Failed runs with their encrypted lead and an open, due DLQ item each, as intake leaves them. */
async function seedDueItems(count: number): Promise<void> {
	const cipher = createLeadCipher(stack.settings.LEAD_ENCRYPTION_KEY);
	const lead = {
		email: 'bench@example.com',
		name: 'Bench',
		address: { zip: '66123', street: 'Hauptstrasse 1' },
		house: { is_owner: true },
	};
	for (let start = 0; start < count; start += 1000) {
		const rows = Array.from({ length: Math.min(1000, count - start) }, (_, index) => ({
			run_id: randomUUID(),
			idempotency_key: `dlq-bench-${start + index}`,
			fingerprint: 'f',
			source: 'bench',
			status: 'failed',
			sealed_lead: cipher.encrypt(Buffer.from(JSON.stringify(lead))),
		}));
		await sql`INSERT INTO runs ${sql(rows)}`;
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
			SELECT run_id, 'crm_http_503', '{}'::jsonb, 'open', now() - interval '1 minute'
			FROM unnest(${rows.map((row) => row.run_id)}::uuid[]) AS run_id`;
	}
}
