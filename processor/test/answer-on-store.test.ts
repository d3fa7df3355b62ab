import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockCrm, type CrmLead, type RunningServer } from '@lead-intake-hub/mocks';
import { waitFor } from '@lead-intake-hub/stack';
import { connect, type Sql } from '../src/db/connection.js';
import { answerOnStoreKey, signingKeys, signV2 } from '../src/intake/signature.js';
import {
	postLead,
	postOnStore,
	testDatabase,
	TEST_SECRET,
	TEST_SERVICE_TOKEN,
	validLead,
} from './support/harness.js';
import { startProcessorProcess, type ProcessorProcess } from './support/processes.js';

/*
 * Answer on store on real processes: 202 once stored, the processor's own deliverer and DLQ
 * retries (nobody calls retry-due: n8n is not running), kill -9 with leads queued, and the
 * outcome events outbox across a kill, received by a small HTTP server that records them.
 */
let database: Awaited<ReturnType<typeof testDatabase>>;
let crm: RunningServer;
let sql: Sql;
const running: ProcessorProcess[] = [];
const EVENTS_SECRET = 'events-secret-0123456789';
const EVENTS_SECRET_PREVIOUS = 'events-secret-previous-0123456789';

interface Received {
	id: string;
	timestamp: string;
	signature: string;
	body: string;
}
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];
/** What the receiver does: answer 2xx, refuse, or hold the request without answering. */
let receiverMode: 'ok' | 'refuse' | 'hold' = 'ok';
/** Requests whose body contains this are held without an answer, whatever the mode. */
let holdBodiesWith: string | null = null;

beforeAll(async () => {
	database = await testDatabase();
	crm = await startMockCrm({ token: 'aos-crm-token' });
	sql = connect(database.url, { maxConnections: 2 });
	receiver = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			if (receiverMode === 'hold' || (holdBodiesWith !== null && body.includes(holdBodiesWith)))
				return;
			received.push({
				id: String(req.headers['webhook-id']),
				timestamp: String(req.headers['webhook-timestamp']),
				signature: String(req.headers['webhook-signature']),
				body,
			});
			res.writeHead(receiverMode === 'ok' ? 204 : 503).end();
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
});
// each test's processors stop with it: a leftover one would claim the next test's leads
afterEach(async () => {
	for (const processor of running.splice(0)) await processor.kill('SIGKILL');
	await setCrmFaults({ fail_next: 0, latency_ms: 0, slow_next: 0 });
	// a test that failed half-way does not leave the receiver holding the next test's events
	receiverMode = 'ok';
});
afterAll(async () => {
	receiver.closeAllConnections();
	await new Promise((resolve) => receiver.close(resolve));
	await sql.end();
	await crm.close();
	await database.drop();
});

const env = (extra: Record<string, string> = {}) => ({
	DATABASE_URL: database.url,
	WEBHOOK_HMAC_SECRET: TEST_SECRET,
	EMAIL_HASH_SALT: 'aos-salt-0123',
	LEAD_ENCRYPTION_KEY: 'aos-lead-encryption-key-0123456789',
	SERVICE_TOKEN: TEST_SERVICE_TOKEN,
	CRM_URL: `${crm.url}/leads/upsert`,
	CRM_TOKEN: 'aos-crm-token',
	// a DLQ claim's lease is 3 s, an accepted run's 7 s (its insert, a call and its processed write)
	CRM_TIMEOUT_MS: '1000',
	DLQ_LEASE_SECONDS: '3',
	DLQ_RETRY_INTERVAL_SECONDS: '1',
	DELIVERY_POLL_MS: '200',
	...extra,
});

async function start(extra: Record<string, string> = {}) {
	const processor = await startProcessorProcess(env(extra));
	running.push(processor);
	return processor;
}

/** Signed with the answer-on-store key, as the Lead Intake node does when it answers on store. */
const postAsync = (url: string, lead: Record<string, unknown>, key: string) =>
	postOnStore(url, lead, { key });

/** `count` valid leads answered on store, keys `<prefix>0`..: each is answered 202 (queued). */
async function postQueued(url: string, prefix: string, count: number) {
	const answers = await Promise.all(
		Array.from({ length: count }, (_, index) => postAsync(url, validLead(), `${prefix}${index}`)),
	);
	expect(answers.map((answer) => answer.status)).toEqual(Array(count).fill(202));
}

async function crmLeads(prefix: string): Promise<CrmLead[]> {
	const response = await fetch(`${crm.url}/leads`);
	return ((await response.json()) as { leads: CrmLead[] }).leads.filter((lead) =>
		lead.key.startsWith(prefix),
	);
}

async function setCrmFaults(faults: Record<string, number | string>) {
	await fetch(`${crm.url}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(faults),
	});
}

async function statuses(prefix: string): Promise<Record<string, number>> {
	const rows = await sql<{ status: string; count: string }[]>`
		SELECT status, count(*) FROM runs WHERE idempotency_key LIKE ${`${prefix}%`} GROUP BY status`;
	return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}

function allProcessed(prefix: string, count: number) {
	return waitFor(() => statuses(prefix), {
		what: `${count} runs ${prefix}* processed`,
		until: (by) => by.processed === count,
		deadlineMs: 40_000,
		intervalMs: 100,
	});
}

test('202 once stored, Preference-Applied; the run is delivered in the background, once', async () => {
	const processor = await start();
	const answer = await postAsync(processor.url, validLead(), 'aos-1');
	expect(answer.status).toBe(202);
	expect(answer.headers.get('preference-applied')).toBe('respond-async');
	expect(answer.body).toEqual({
		status: 'accepted',
		run_status: 'queued',
		run_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
	});
	await allProcessed('aos-1', 1);
	expect(await crmLeads('aos-1')).toEqual([expect.objectContaining({ upserts: 1 })]);
	// a repeat is answered as today: duplicate of a processed run
	const again = await postAsync(processor.url, validLead(), 'aos-1');
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: answer.body.run_id,
		existing_status: 'processed',
	});
	// rejected: answered as today, in both modes
	const rejected = await postAsync(processor.url, { email: 'x@example.com' }, 'aos-rej');
	expect(rejected.status).toBe(200);
	expect(rejected.body).toMatchObject({ status: 'rejected' });
	// without the header: the synchronous answer, unchanged
	const sync = await postLead(processor.url, validLead(), { key: 'aos-sync' });
	expect(sync.status).toBe(200);
	expect(sync.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
	expect(sync.headers.get('preference-applied')).toBeNull();
	await processor.kill('SIGTERM');
});

test('a repeat answered on store while the CRM still has the first: duplicate at once, never 409', async () => {
	// the CRM call takes 3 s (within its timeout): time enough for both repeats
	const processor = await start({ CRM_TIMEOUT_MS: '10000', DLQ_LEASE_SECONDS: '15' });
	await setCrmFaults({ fail_next: 0, slow_next: 1, latency_ms: 3000 });
	const first = await postAsync(processor.url, validLead(), 'aos-inflight');
	expect(first.status).toBe(202);
	await waitFor(() => statuses('aos-inflight'), {
		what: 'a deliverer to hold the run (accepted) during its slow CRM call',
		until: (by) => by.accepted === 1,
		intervalMs: 20,
	});
	// the lead is safe: the repeat hears so instead of "ask again later"
	const again = await postAsync(processor.url, validLead(), 'aos-inflight');
	expect(again.status).toBe(200);
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: first.body.run_id,
		existing_status: 'accepted',
	});
	// a repeat waiting for the CRM's answer still cannot have it yet
	const waiting = await postLead(processor.url, validLead(), { key: 'aos-inflight' });
	expect(waiting.status).toBe(409);
	expect(waiting.body).toMatchObject({ code: 'request_in_progress', run_id: first.body.run_id });
	// ask again when the deliverer's claim runs out, not when a request's own lease would have
	const [claim] = await sql<{ lease_until: Date }[]>`
		SELECT lease_until FROM runs WHERE run_id = ${first.body.run_id as string}`;
	const claimLeft = (claim!.lease_until.getTime() - Date.now()) / 1000;
	expect(Math.abs(Number(waiting.headers.get('retry-after')) - claimLeft)).toBeLessThan(3);
	await allProcessed('aos-inflight', 1);
	expect(await crmLeads('aos-inflight')).toEqual([expect.objectContaining({ upserts: 1 })]);
	// the KPI counts the repeat answered duplicate, not the one answered 409
	const [audit] = await sql<{ count: string }[]>`
		SELECT count(*) FROM audit_events
		WHERE run_id = ${first.body.run_id as string} AND event_type = 'lead_duplicate'`;
	expect(Number(audit!.count)).toBe(1);
	await processor.kill('SIGTERM');
	// a process start and a 3 s CRM call: more than jest's default 5 s on a busy machine
}, 30_000);

test('the answer mode cannot be flipped on the way: each signature verifies in its own mode only', async () => {
	const processor = await start();
	// a synchronous request's signature with the header added
	const added = await postLead(processor.url, validLead(), {
		key: 'aos-flip-1',
		headers: { prefer: 'respond-async' },
	});
	expect(added.status).toBe(401);
	expect(added.body).toMatchObject({ code: 'signature_invalid' });
	// an answer-on-store request with the header removed
	const raw = JSON.stringify(validLead());
	const timestamp = String(Math.floor(Date.now() / 1000));
	const derived = answerOnStoreKey(signingKeys([TEST_SECRET])[0]!.key);
	const removed = await postLead(processor.url, validLead(), {
		key: 'aos-flip-2',
		headers: {
			'webhook-signature': signV2(derived, 'aos-flip-2', timestamp, Buffer.from(raw)),
			'webhook-timestamp': timestamp,
		},
	});
	expect(removed.status).toBe(401);
	expect(await statuses('aos-flip')).toEqual({});
	await processor.kill('SIGTERM');
});

test('kill -9 while leads are queued and in delivery: another processor delivers each lead, one CRM record each', async () => {
	// a slow CRM and one delivery at a time: the first processor is in the middle of one
	// delivery, with the rest still queued, when it is killed
	await setCrmFaults({ fail_next: 0, latency_ms: 800, slow_next: 1000 });
	const first = await start({ DELIVERY_CONCURRENCY: '1', DELIVERY_BATCH: '1' });
	await postQueued(first.url, 'aos-kill-', 12);
	await waitFor(() => statuses('aos-kill-'), {
		what: 'the first processor to be delivering a claimed run',
		until: (by) => (by.accepted ?? 0) > 0,
		deadlineMs: 10_000,
		intervalMs: 20,
	});
	await first.kill('SIGKILL');
	const left = await statuses('aos-kill-');
	expect(left.queued ?? 0).toBeGreaterThan(0);
	await setCrmFaults({ fail_next: 0, latency_ms: 0, slow_next: 0 });

	await start();
	await allProcessed('aos-kill-', 12);
	const leads = await crmLeads('aos-kill-');
	// one record per lead; a lead whose call was in flight at the kill was upserted again (by key)
	expect(leads.map((lead) => lead.key).sort()).toEqual(
		Array.from({ length: 12 }, (_, index) => `aos-kill-${index}`).sort(),
	);
	const [stuck] = await sql`
		SELECT count(*)::int AS n FROM dlq d JOIN runs r USING (run_id)
		WHERE r.idempotency_key LIKE 'aos-kill-%' AND d.status <> 'resolved'`;
	expect(stuck!.n).toBe(0);
}, 60_000);

test('a batch that takes longer than ACCEPTED_LEASE_SECONDS keeps its claim: no lead is recovered while its deliverer still holds it', async () => {
	// 12 leads in one claim, delivered one at a time at 900 ms each (well within the 2 s timeout):
	// about 11 s, where an accepted run's own lease is 8 s (the shortest the processor takes: the
	// insert, a call and its processed write, 2 s + 4 × 1.5 s) and the recovery looks every second
	await setCrmFaults({ fail_next: 0, latency_ms: 900, slow_next: 12 });
	const processor = await start({
		CRM_TIMEOUT_MS: '2000',
		ACCEPTED_LEASE_SECONDS: '8',
		DLQ_LEASE_SECONDS: '4',
		DELIVERY_CONCURRENCY: '1',
		DELIVERY_BATCH: '12',
		DELIVERY_LINGER_MS: '1000',
	});
	await postQueued(processor.url, 'aos-long-', 12);
	await allProcessed('aos-long-', 12);
	// each CRM call once: nothing was handed to the DLQ and sent again
	expect((await crmLeads('aos-long-')).map((lead) => lead.upserts)).toEqual(Array(12).fill(1));
	const [items] = await sql`
		SELECT count(*)::int AS n FROM dlq d JOIN runs r USING (run_id)
		WHERE r.idempotency_key LIKE 'aos-long-%'`;
	expect(items!.n).toBe(0);
	await processor.kill('SIGTERM');
}, 60_000);

test('CRM failing then recovering, nobody calling retry-due: every stored lead reaches the CRM exactly once', async () => {
	// 503s with Retry-After 1: the first deliveries fail into the DLQ, the breaker pauses calls
	await setCrmFaults({ fail_next: 15, status: 503, retry_after: 1 });
	const processor = await start({
		DLQ_BACKOFF_SECONDS: '1,1,1,1,1,1,1,1,1,1',
		CRM_BREAKER_FAILURES: '3',
		CRM_BREAKER_COOLDOWN_SECONDS: '1',
	});
	await postQueued(processor.url, 'aos-down-', 8);
	await allProcessed('aos-down-', 8);
	const leads = await crmLeads('aos-down-');
	expect(leads).toHaveLength(8);
	// injected failures do not count: every lead was written once
	expect(leads.map((lead) => lead.upserts)).toEqual(Array(8).fill(1));
	const [failed] = await sql`
		SELECT count(*)::int AS n FROM delivery_attempts a JOIN runs r USING (run_id)
		WHERE r.idempotency_key LIKE 'aos-down-%' AND NOT a.success`;
	expect(failed!.n).toBeGreaterThan(0);
	// retried by the processor's own loop: nothing called the operator endpoint
	expect(processor.lines.some((line) => line.includes('/internal/dlq/retry-due'))).toBe(false);
	await processor.kill('SIGTERM');
}, 60_000);

test('calls paused in the middle of a batch: the leads not tried wait in the queue, only the tried ones are failures', async () => {
	// every call fails; the breaker pauses calls after 3, long enough for the whole test
	await setCrmFaults({ fail_next: 1000, status: 503 });
	const processor = await start({
		CRM_BREAKER_FAILURES: '3',
		CRM_BREAKER_COOLDOWN_SECONDS: '300',
		DELIVERY_CONCURRENCY: '2',
		// the ten leads are stored before the first claim: one batch
		DELIVERY_LINGER_MS: '1000',
	});
	await postQueued(processor.url, 'aos-paused-', 10);
	const settled = await waitFor(() => statuses('aos-paused-'), {
		what: 'the batch settled with calls paused',
		until: (by) =>
			!by.accepted && (by.failed ?? 0) >= 3 && (by.failed ?? 0) + (by.queued ?? 0) === 10,
		deadlineMs: 20_000,
		intervalMs: 100,
	});
	const [counted] = await sql<{ items: number; tried: number }[]>`
		SELECT
			(SELECT count(*)::int FROM dlq d JOIN runs r USING (run_id)
				WHERE r.idempotency_key LIKE 'aos-paused-%') AS items,
			(SELECT count(DISTINCT a.run_id)::int FROM delivery_attempts a JOIN runs r USING (run_id)
				WHERE r.idempotency_key LIKE 'aos-paused-%') AS tried`;
	// a DLQ item (and its lead.failed alert) only for a lead the CRM was called for
	expect(counted!.items).toBe(counted!.tried);
	expect(settled!.queued).toBe(10 - counted!.items);
	await processor.kill('SIGTERM');
}, 60_000);

test('a stop hands the batch it has not started back to the queue: the next processor delivers it, nothing is failed', async () => {
	// one call at a time, 2 s each: a stop comes while the first of five is with the CRM
	await setCrmFaults({ fail_next: 0, slow_next: 1000, latency_ms: 2000 });
	const processor = await start({
		CRM_TIMEOUT_MS: '5000',
		DLQ_LEASE_SECONDS: '10',
		DELIVERY_CONCURRENCY: '1',
		// the five leads are stored before the first claim: one batch
		DELIVERY_LINGER_MS: '1000',
	});
	await postQueued(processor.url, 'aos-stop-', 5);
	await waitFor(() => statuses('aos-stop-'), {
		what: 'the five leads claimed by the deliverer',
		until: (by) => by.accepted === 5,
		intervalMs: 20,
	});
	await processor.kill('SIGTERM');
	const afterStop = await statuses('aos-stop-');
	// the call under way finished; the rest went back to the queue, none is left claimed
	expect(afterStop.accepted).toBeUndefined();
	expect(afterStop.queued).toBeGreaterThanOrEqual(3);
	expect((afterStop.processed ?? 0) + afterStop.queued!).toBe(5);
	await setCrmFaults({ fail_next: 0, slow_next: 0, latency_ms: 0 });
	await start();
	await allProcessed('aos-stop-', 5);
	expect((await crmLeads('aos-stop-')).map((lead) => lead.upserts)).toEqual(Array(5).fill(1));
	const [failed] = await sql<{ n: number }[]>`
		SELECT count(*)::int AS n FROM dlq d JOIN runs r USING (run_id) WHERE r.idempotency_key LIKE 'aos-stop-%'`;
	expect(failed!.n).toBe(0);
}, 60_000);

function verifies(event: Received, secret: string): boolean {
	const key = signingKeys([secret])[0]!.key;
	const expected = `v1,${createHmac('sha256', key).update(`${event.id}.${event.timestamp}.${event.body}`).digest('base64')}`;
	return event.signature.split(' ').includes(expected);
}

test('outcome events survive a processor kill: none lost, repeats only with the same id, signed with both secrets', async () => {
	const eventsEnv = {
		EVENTS_URL: receiverUrl,
		EVENTS_SECRET,
		EVENTS_SECRET_PREVIOUS,
		EVENTS_TIMEOUT_MS: '1000',
		EVENTS_POLL_MS: '200',
		EVENTS_BACKOFF_SECONDS: '1',
		EVENTS_BATCH: '10',
		EVENTS_CONCURRENCY: '10',
	};
	// the receiver holds every request: the first processor's claimed events are in flight at the kill
	receiverMode = 'hold';
	const first = await start(eventsEnv);
	await Promise.all(
		Array.from({ length: 6 }, (_, index) => postAsync(first.url, validLead(), `aos-ev-${index}`)),
	);
	await postAsync(first.url, { email: 'rejected@example.com' }, 'aos-ev-rejected');
	await allProcessed('aos-ev-', 6);
	await waitFor(
		async () => {
			const [row] =
				await sql`SELECT count(*)::int AS n FROM outcome_events WHERE lease_owner IS NOT NULL`;
			return row!.n as number;
		},
		{ what: 'events claimed by the first processor', until: (n) => n > 0, deadlineMs: 10_000 },
	);
	await first.kill('SIGKILL');
	receiver.closeAllConnections();
	receiverMode = 'ok';

	const second = await start(eventsEnv);
	const outbox = await waitFor(
		async () => sql<{ webhook_id: string; status: string; event_type: string }[]>`
			SELECT webhook_id, status, event_type FROM outcome_events ORDER BY event_id`,
		{
			what: 'every outcome event sent',
			until: (rows) => rows.length > 0 && rows.every((row) => row.status === 'sent'),
			deadlineMs: 30_000,
			intervalMs: 200,
		},
	);
	// none lost: every event in the outbox reached the receiver
	const ids = new Set(received.map((event) => event.id));
	for (const row of outbox) expect(ids.has(row.webhook_id)).toBe(true);
	// repeats only with the same id and the same body
	const bodies = new Map<string, string>();
	for (const event of received) {
		if (bodies.has(event.id)) expect(event.body).toBe(bodies.get(event.id));
		bodies.set(event.id, event.body);
		expect(verifies(event, EVENTS_SECRET)).toBe(true);
		expect(verifies(event, EVENTS_SECRET_PREVIOUS)).toBe(true);
		expect(verifies(event, 'some-other-secret-0123456789')).toBe(false);
	}
	const types = received
		.filter((event, index) => received.findIndex((other) => other.id === event.id) === index)
		.map((event) => JSON.parse(event.body) as { type: string; data: Record<string, unknown> });
	const ours = types.filter((event) => outbox.some((row) => row.event_type === event.type));
	expect(ours.filter((event) => event.type === 'lead.delivered').length).toBeGreaterThanOrEqual(6);
	expect(ours.some((event) => event.type === 'lead.rejected')).toBe(true);
	for (const event of ours) {
		expect(event.data).toEqual(
			expect.objectContaining({ run_id: expect.any(String), source: expect.any(String) }),
		);
		expect(JSON.stringify(event.data)).not.toContain('@');
	}
	// the operator sees nothing pending
	const response = await fetch(`${second.url}/internal/events`, {
		headers: { authorization: `Bearer ${TEST_SERVICE_TOKEN}` },
	});
	expect(await response.json()).toMatchObject({ pending: 0, events: [], events_url_set: true });
	// "send now" is strict like every operator endpoint, and finds nothing left to do
	const retry = (body: string) =>
		fetch(`${second.url}/internal/events/retry`, {
			method: 'POST',
			headers: {
				authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
				'content-type': 'application/json',
			},
			body,
		});
	const refused = await retry('{"now":true}');
	expect(refused.status).toBe(400);
	expect(JSON.stringify(await refused.json())).toContain('now');
	expect(await (await retry('{}')).json()).toEqual({ due: 0 });
}, 60_000);

test('a claim on outcome events lasts one send and its write, is renewed while the send is under way, and takes no more events than there are free sends; after kill -9 the events are sent by the next processor', async () => {
	// one send at a time, held by the receiver until EVENTS_TIMEOUT_MS: longer than a third of the
	// claim, so the claim is renewed once while it waits
	const eventsEnv = {
		EVENTS_URL: receiverUrl,
		EVENTS_SECRET,
		EVENTS_TIMEOUT_MS: '4000',
		EVENTS_POLL_MS: '200',
		EVENTS_BACKOFF_SECONDS: '1',
		EVENTS_BATCH: '10',
		EVENTS_CONCURRENCY: '1',
		EVENTS_TYPES: 'lead.delivered',
		DB_QUERY_TIMEOUT_MS: '1000',
	};
	const ROUND_MS = 2 * (4000 + 1000);
	// the three events are in the outbox before any dispatcher runs
	const storing = await start();
	await postQueued(storing.url, 'aos-renew-', 3);
	await allProcessed('aos-renew-', 3);
	await storing.kill('SIGKILL');
	const ours = sql`
		SELECT event_id FROM outcome_events e JOIN runs r USING (run_id)
		WHERE r.idempotency_key LIKE 'aos-renew-%'`;
	await waitFor(() => sql`SELECT 1 FROM outcome_events WHERE event_id IN (${ours})`, {
		what: 'the three events in the outbox',
		until: (rows) => rows.length === 3,
	});
	receiverMode = 'hold';
	const first = await start(eventsEnv);
	const claimed = await waitFor(
		() => sql<{ event_id: string; lease_until: Date; left_ms: number }[]>`
			SELECT event_id, lease_until, (extract(epoch FROM lease_until - now()) * 1000)::int AS left_ms
			FROM outcome_events WHERE event_id IN (${ours}) AND lease_owner IS NOT NULL ORDER BY event_id`,
		{
			what: 'the first event claimed',
			until: (rows) => rows.length > 0,
			deadlineMs: 10_000,
			intervalMs: 50,
		},
	);
	// one send at a time: one event claimed, the others left for whoever has a free send
	expect(claimed).toHaveLength(1);
	// one send and its write, not the batch's
	expect(claimed[0]!.left_ms).toBeLessThanOrEqual(ROUND_MS);
	const last = claimed[0]!;
	const renewed = await waitFor(
		async () => {
			const [row] = await sql<
				{ attempts: number; lease_owner: string | null; lease_until: Date }[]
			>`
				SELECT attempts, lease_owner, lease_until FROM outcome_events WHERE event_id = ${last.event_id}`;
			return row!;
		},
		{
			what: 'the claim of the event being sent renewed',
			until: (row) =>
				row.lease_owner !== null && row.lease_until.getTime() > last.lease_until.getTime(),
			deadlineMs: 10_000,
			intervalMs: 100,
		},
	);
	expect(renewed.attempts).toBe(1);

	await first.kill('SIGKILL');
	receiver.closeAllConnections();
	receiverMode = 'ok';
	await start(eventsEnv);
	const outbox = await waitFor(
		() => sql<{ webhook_id: string; status: string }[]>`
			SELECT webhook_id, status FROM outcome_events WHERE event_id IN (${ours})`,
		{
			what: 'every event sent by the second processor',
			until: (rows) => rows.length === 3 && rows.every((row) => row.status === 'sent'),
			deadlineMs: 30_000,
			intervalMs: 200,
		},
	);
	const ids = new Set(received.map((event) => event.id));
	for (const row of outbox) expect(ids.has(row.webhook_id)).toBe(true);
}, 60_000);

test('EVENTS_TYPES: only the types the receiver subscribes to are sent; the others leave the outbox unsent', async () => {
	const processor = await start({
		EVENTS_URL: receiverUrl,
		EVENTS_SECRET,
		EVENTS_TYPES: 'lead.rejected',
		EVENTS_POLL_MS: '200',
	});
	await postAsync(processor.url, validLead(), 'aos-types-delivered');
	await postAsync(processor.url, { email: 'rejected.types@example.com' }, 'aos-types-rejected');
	await allProcessed('aos-types-', 1);
	const runIds = (
		await sql<{ run_id: string }[]>`
			SELECT run_id FROM runs WHERE idempotency_key LIKE 'aos-types-%'`
	).map((row) => row.run_id);
	expect(runIds).toHaveLength(2);
	const outbox = await waitFor(
		() => sql<{ event_type: string; status: string }[]>`
			SELECT event_type, status FROM outcome_events WHERE run_id = ANY(${runIds}::uuid[])`,
		{
			what: 'the rejected event sent and the delivered one dropped',
			until: (rows) => rows.length === 1 && rows[0]!.status === 'sent',
			deadlineMs: 10_000,
			intervalMs: 100,
		},
	);
	expect(outbox).toEqual([{ event_type: 'lead.rejected', status: 'sent' }]);
	const sentToUs = received
		.map((event) => JSON.parse(event.body) as { type: string; data: { run_id?: string } })
		.filter((event) => runIds.includes(String(event.data.run_id)));
	expect(sentToUs.map((event) => event.type)).toEqual(['lead.rejected']);
});

test('EVENTS_TYPES: an event of a type nobody subscribes to is never written, not even to be dropped', async () => {
	// no EVENTS_URL: no dispatcher runs, so whatever is written stays in the outbox
	const processor = await start({ EVENTS_TYPES: 'lead.rejected' });
	await postAsync(processor.url, validLead(), 'aos-unwritten-delivered');
	await postAsync(
		processor.url,
		{ email: 'rejected.unwritten@example.com' },
		'aos-unwritten-rejected',
	);
	await allProcessed('aos-unwritten-', 1);
	const outbox = await sql<{ event_type: string; status: string }[]>`
		SELECT e.event_type, e.status FROM outcome_events e JOIN runs r USING (run_id)
		WHERE r.idempotency_key LIKE 'aos-unwritten-%'`;
	expect(outbox).toEqual([{ event_type: 'lead.rejected', status: 'pending' }]);
	// a connection that names no types (psql, another tool) still writes every type
	const [run] = await sql<{ run_id: string }[]>`
		SELECT run_id FROM runs WHERE idempotency_key = 'aos-unwritten-delivered'`;
	await sql`SELECT outcome_event('lead.delivered', ${run!.run_id}::uuid, '{}'::jsonb)`;
	const written = await sql`SELECT 1 FROM outcome_events WHERE run_id = ${run!.run_id}`;
	expect(written).toHaveLength(1);
	// unsent, they would be the next test's receiver's first events
	await sql`
		DELETE FROM outcome_events
		WHERE run_id IN (SELECT run_id FROM runs WHERE idempotency_key LIKE 'aos-unwritten-%')`;
});

test('a stop does not wait out EVENTS_TIMEOUT_MS for a receiver that never answers: the send is cut and the event waits for its next attempt', async () => {
	receiverMode = 'hold';
	// events earlier tests left unsent would be claimed first, and held, before this test's lead
	await sql`DELETE FROM outcome_events WHERE status = 'pending'`;
	// the default timeout (90 s) is longer than this test may take
	const processor = await start({ EVENTS_URL: receiverUrl, EVENTS_SECRET, EVENTS_POLL_MS: '200' });
	const rejected = await postAsync(processor.url, { email: 'held@example.com' }, 'aos-stop-held');
	expect(rejected.body).toMatchObject({ status: 'rejected' });
	const runId = rejected.body.run_id as string;
	await waitFor(
		() => sql`SELECT 1 FROM outcome_events WHERE run_id = ${runId} AND lease_owner IS NOT NULL`,
		{ what: 'the lead.rejected event claimed and sent', until: (rows) => rows.length === 1 },
	);
	await processor.kill('SIGTERM');
	const [event] = await sql<
		{
			status: string;
			lease_owner: string | null;
			last_error: string;
			attempts: number;
			due: boolean;
		}[]
	>`
		SELECT status, lease_owner, last_error, attempts, next_attempt_at <= now() AS due
		FROM outcome_events WHERE run_id = ${runId}`;
	// cut by the stop, not refused by the receiver: due again at once, its attempt not counted
	expect(event).toEqual({
		status: 'pending',
		lease_owner: null,
		last_error: 'the processor stopped before the receiver answered',
		attempts: 0,
		due: true,
	});
	receiverMode = 'ok';
}, 30_000);

test('policy update, answered on store: a first lead and its update stored together reach the CRM oldest first, so the CRM keeps the newest details', async () => {
	const own = await testDatabase();
	try {
		// the first call for the person's record is slow: sent side by side, the older would land last
		await setCrmFaults({ fail_next: 0, slow_next: 1, latency_ms: 600, key: 'aos-order-1' });
		const processor = await startProcessorProcess(
			env({ DATABASE_URL: own.url, DELIVERY_LINGER_MS: '1000', DELIVERY_CONCURRENCY: '4' }),
			{ duplicates: { window_hours: 24, policy: 'update' } },
		);
		running.push(processor);
		const person = { email: 'in.order@example.com' };
		const first = await postAsync(processor.url, validLead(person), 'aos-order-1');
		const update = await postAsync(
			processor.url,
			validLead({ ...person, name: 'Newer Name' }),
			'aos-order-2',
		);
		expect([first.status, update.status]).toEqual([202, 202]);
		const [record] = await waitFor(() => crmLeads('aos-order-'), {
			what: 'the update written over the first lead in the CRM',
			until: (leads) => leads[0]?.upserts === 2,
		});
		expect(record).toMatchObject({ key: 'aos-order-1', upserts: 2 });
		expect(record!.payload.run_id).toBe(update.body.run_id);
	} finally {
		for (const processor of running.splice(0)) await processor.kill('SIGKILL');
		await own.drop();
	}
}, 30_000);

/** Outcome events written straight into the outbox (as another tool would), oldest first. */
async function outboxRows(
	rows: { type: string; marker: string; ageMinutes?: number; leasedByOther?: boolean }[],
): Promise<string[]> {
	const ids: string[] = [];
	for (const row of rows) {
		const [inserted] = await sql<{ event_id: string }[]>`
			INSERT INTO outcome_events (event_type, data, occurred_at, lease_owner, lease_until)
			VALUES (${row.type}, ${sql.json({ marker: row.marker })},
				now() - make_interval(mins => ${row.ageMinutes ?? 0}),
				${row.leasedByOther ? 'another-processor' : null},
				CASE WHEN ${row.leasedByOther ?? false} THEN now() + interval '1 hour' END)
			RETURNING event_id`;
		ids.push(inserted!.event_id);
	}
	return ids;
}

test('each acknowledged event is marked sent at once: one the receiver holds does not keep its batch pending', async () => {
	const ids = await outboxRows([
		{ type: 'lead.rejected', marker: 'aos-batch-held' },
		{ type: 'lead.rejected', marker: 'aos-batch-a' },
		{ type: 'lead.rejected', marker: 'aos-batch-b' },
	]);
	holdBodiesWith = 'aos-batch-held';
	try {
		await start({
			EVENTS_URL: receiverUrl,
			EVENTS_SECRET,
			EVENTS_BATCH: '10',
			EVENTS_CONCURRENCY: '3',
			// longer than the wait below: the held send is still under way when the others are checked
			EVENTS_TIMEOUT_MS: '30000',
		});
		const statusOf = async () =>
			Object.fromEntries(
				(
					await sql<{ event_id: string; status: string; lease_owner: string | null }[]>`
						SELECT event_id, status, lease_owner FROM outcome_events
						WHERE event_id = ANY(${ids}::bigint[])`
				).map((row) => [row.event_id, `${row.status}${row.lease_owner ? ', claimed' : ''}`]),
			);
		const settled = await waitFor(statusOf, {
			what: 'the two acknowledged events marked sent',
			until: (by) => by[ids[1]!] === 'sent' && by[ids[2]!] === 'sent',
			deadlineMs: 10_000,
			intervalMs: 100,
		});
		expect(settled[ids[0]!]).toBe('pending, claimed');
	} finally {
		holdBodiesWith = null;
		receiver.closeAllConnections();
		await sql`DELETE FROM outcome_events WHERE event_id = ANY(${ids}::bigint[])`;
	}
}, 30_000);

test('EVENTS_TYPES: a leftover event of another type is dropped only once old and unclaimed, and never holds up the sends', async () => {
	const [old, young, claimed, locked] = await outboxRows([
		{ type: 'lead.delivered', marker: 'aos-left-old', ageMinutes: 60 },
		{ type: 'lead.delivered', marker: 'aos-left-young' },
		{ type: 'lead.delivered', marker: 'aos-left-claimed', ageMinutes: 60, leasedByOther: true },
		{ type: 'lead.delivered', marker: 'aos-left-locked', ageMinutes: 60 },
	]);
	const left = async () =>
		(
			await sql<{ event_id: string }[]>`
				SELECT event_id FROM outcome_events WHERE event_id = ANY(${[old!, young!, claimed!, locked!]}::bigint[])
				ORDER BY event_id`
		).map((row) => row.event_id);
	try {
		// another transaction holds one leftover: dropping it must not stand in the way of sending
		await sql.begin(async (tx) => {
			await tx`SELECT 1 FROM outcome_events WHERE event_id = ${locked!} FOR UPDATE`;
			const processor = await start({
				EVENTS_URL: receiverUrl,
				EVENTS_SECRET,
				EVENTS_TYPES: 'lead.rejected',
				EVENTS_POLL_MS: '200',
			});
			const rejected = await postAsync(
				processor.url,
				{ email: 'rejected.leftovers@example.com' },
				'aos-left-rejected',
			);
			await waitFor(
				() => sql`
					SELECT 1 FROM outcome_events WHERE run_id = ${rejected.body.run_id as string} AND status = 'sent'`,
				{ what: 'the lead.rejected event sent', until: (rows) => rows.length === 1 },
			);
			await waitFor(left, {
				what: 'the old unclaimed leftover dropped',
				until: (ids) => !ids.includes(old!),
			});
		});
		await waitFor(left, {
			what: 'the leftover that was locked dropped once free',
			until: (ids) => !ids.includes(locked!),
		});
		// young (a rolling deploy may have a processor that sends it) or another's claim: kept
		expect(await left()).toEqual([young, claimed]);
	} finally {
		await sql`DELETE FROM outcome_events WHERE event_id = ANY(${[young!, claimed!]}::bigint[])`;
	}
}, 30_000);
