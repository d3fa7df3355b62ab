import { waitFor } from '@lead-intake-hub/stack';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect, type Sql } from '../src/db/connection.js';
import { migrate } from '../src/db/migrate.js';
import { claimDueEvents, releaseClaims } from '../src/db/outcome-events.js';
import { startDispatcher, type DispatcherOptions } from '../src/events/dispatcher.js';
import { signingKeys } from '../src/intake/signature.js';
import { createLogger } from '../src/logger.js';
import { defaultMigrationsDir } from '../src/paths.js';
import { OUTCOME_EVENT_TYPES } from '../src/vocabulary.js';
import { testDatabase } from './support/harness.js';

/*
 * The outcome events dispatcher in this process, against a receiver of the test's own: how it
 * shares its sends, when an attempt ends, and what a refusal leaves for the operator.
 */

let database: Awaited<ReturnType<typeof testDatabase>>;
let sql: Sql;
let receiver: Server;
let receiverUrl: string;
/** How the receiver treats a request; it answers 204 when this returns nothing. */
let handle: (body: string, res: ServerResponse) => 'held' | void = () => undefined;
const held: ServerResponse[] = [];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
	database = await testDatabase();
	sql = connect(database.url, { maxConnections: 4 });
	await migrate(sql, defaultMigrationsDir);
	receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const outcome = handle(Buffer.concat(chunks).toString('utf8'), res);
			if (outcome === 'held') held.push(res);
			else if (!res.headersSent) res.writeHead(204).end();
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
});
afterEach(async () => {
	for (const stop of stops.splice(0)) await stop();
	for (const res of held.splice(0)) res.destroy();
	handle = () => undefined;
	await sql`DELETE FROM outcome_events`;
});
afterAll(async () => {
	receiver.closeAllConnections();
	await new Promise((resolve) => receiver.close(resolve));
	await sql.end();
	await database.drop();
});

function dispatch(overrides: Partial<DispatcherOptions>) {
	const dispatcher = startDispatcher({
		sql,
		url: receiverUrl,
		types: OUTCOME_EVENT_TYPES,
		keys: signingKeys(['dispatcher-test-secret-0123']),
		owner: 'dispatcher-test',
		batch: 100,
		concurrency: 4,
		timeoutMs: 30_000,
		backoffSeconds: [60],
		pollMs: 200,
		deadlineMs: 2_000,
		now: () => new Date(),
		logger: createLogger('silent'),
		...overrides,
	});
	stops.push(() => dispatcher.stop());
	return dispatcher;
}

/** `count` pending lead.failed events, oldest first; returns their webhook ids. */
async function pendingEvents(count: number): Promise<string[]> {
	const ids = Array.from({ length: count }, (_, index) => `evt_dispatch_${index}`);
	for (const [index, id] of ids.entries()) {
		await sql`
			INSERT INTO outcome_events (webhook_id, event_type, data, occurred_at, next_attempt_at)
			VALUES (${id}, 'lead.failed', ${sql.json({ n: index })},
				now() - make_interval(secs => ${count - index}), now() - make_interval(secs => ${count - index}))`;
	}
	return ids;
}

const outbox = () =>
	sql<{ webhook_id: string; status: string; last_error: string | null; attempts: number }[]>`
		SELECT webhook_id, status, last_error, attempts FROM outcome_events ORDER BY event_id`;

test('a receiver that holds one event holds one send: the events claimed after it are sent before its timeout', async () => {
	const ids = await pendingEvents(12);
	// the oldest event, in the first claim, is held until the 30 s timeout
	handle = (body) => (body.includes('"n":0}') ? 'held' : undefined);
	dispatch({ batch: 4, concurrency: 4 });
	const rows = await waitFor(outbox, {
		what: 'every event but the held one sent',
		until: (events) => events.filter((event) => event.status === 'sent').length === 11,
		deadlineMs: 10_000,
		intervalMs: 100,
	});
	expect(rows.find((row) => row.status !== 'sent')?.webhook_id).toBe(ids[0]);
	expect(held).toHaveLength(1);
}, 20_000);

test('an attempt ends at EVENTS_TIMEOUT_MS even after a garbage collection while it waits', async () => {
	setFlagsFromString('--expose-gc');
	const gc = runInNewContext('gc') as () => void;
	await pendingEvents(1);
	handle = () => 'held';
	dispatch({ concurrency: 1, timeoutMs: 1_000 });
	await waitFor(() => Promise.resolve(held.length), {
		what: 'the event held by the receiver',
		until: (count) => count === 1,
	});
	gc();
	gc();
	const [row] = await waitFor(outbox, {
		what: 'the attempt ended and the event rescheduled',
		until: (events) => events[0]?.last_error !== null,
		deadlineMs: 10_000,
		intervalMs: 100,
	});
	expect(row).toMatchObject({
		status: 'pending',
		last_error: 'the receiver did not answer within 1000 ms',
		attempts: 1,
	});
}, 20_000);

test("a refusal leaves the receiver's code for the operator (a drifted clock is not a wrong secret), and nothing else it said", async () => {
	await pendingEvents(2);
	handle = (body, res) => {
		if (body.includes('"n":0}')) {
			res
				.writeHead(401, { 'content-type': 'application/json' })
				.end('{"code":"timestamp_out_of_tolerance","detail":"jane@example.com, 300 s off"}');
		} else {
			res.writeHead(503).end('<html>maintenance for jane@example.com</html>');
		}
	};
	dispatch({});
	const rows = await waitFor(outbox, {
		what: 'both attempts refused',
		until: (events) => events.every((event) => event.last_error !== null),
		intervalMs: 100,
	});
	expect(rows.map((row) => row.last_error)).toEqual([
		'the receiver answered HTTP 401 (timestamp_out_of_tolerance)',
		'the receiver answered HTTP 503',
	]);
});

test('claims given back after a claim whose answer was lost: the events are due at once, their attempt not counted; a send under way keeps its claim', async () => {
	await pendingEvents(3);
	const now = new Date();
	const claimed = await claimDueEvents(sql, {
		owner: 'lost-claim',
		now,
		leaseUntil: new Date(now.getTime() + 600_000),
		limit: 3,
		types: OUTCOME_EVENT_TYPES,
		deadlineMs: 2_000,
	});
	expect(claimed.map((event) => event.attempts)).toEqual([1, 1, 1]);
	const sending = claimed[0]!.event_id;
	expect(
		await releaseClaims(sql, { owner: 'lost-claim', except: [sending], deadlineMs: 2_000 }),
	).toBe(2);
	const rows = await sql<{ event_id: string; lease_owner: string | null; attempts: number }[]>`
		SELECT event_id, lease_owner, attempts FROM outcome_events ORDER BY event_id`;
	expect(rows).toEqual([
		{ event_id: sending, lease_owner: 'lost-claim', attempts: 1 },
		{ event_id: claimed[1]!.event_id, lease_owner: null, attempts: 0 },
		{ event_id: claimed[2]!.event_id, lease_owner: null, attempts: 0 },
	]);
	// another dispatcher's claims are its own
	expect(await releaseClaims(sql, { owner: 'someone-else', except: [], deadlineMs: 2_000 })).toBe(
		0,
	);
});
