import { waitFor } from '@lead-intake-hub/stack';
import { postLead, startStack, TEST_SECRET, validLead, type Stack } from './support/harness.js';
import { streamRequest } from './support/streaming-client.js';
import { deleteExpiredWindows } from '../src/http/rate-limit.js';

const OTHER_SECRET = 'a-second-signer-0123456789';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({
		env: {
			BODY_LIMIT_BYTES: '2048',
			RATE_LIMIT_PER_MINUTE: '5',
			REFUSED_PER_MINUTE: '3',
			WEBHOOK_HMAC_SECRET: `${TEST_SECRET},${OTHER_SECRET}`,
		},
	});
});
afterAll(() => stack.close());

test('a body over the limit -> 413 JSON, nothing recorded', async () => {
	const answer = await postLead(stack.url, validLead({ note: 'x'.repeat(4096) }), {
		key: 'too-big',
		headers: { 'x-source': 'size-test' },
	});
	expect(answer.status).toBe(413);
	expect(answer.body).toMatchObject({ code: 'payload_too_large' });
	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'too-big'`).toHaveLength(0);
});

test('a compressed body -> 415 JSON (the signature covers the bytes as sent), nothing recorded', async () => {
	const answer = await postLead(stack.url, validLead(), {
		key: 'gzipped',
		headers: { 'x-source': 'encoding-test', 'content-encoding': 'gzip' },
	});
	expect(answer.status).toBe(415);
	expect(answer.body).toMatchObject({ code: 'unsupported_content_encoding' });
	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'gzipped'`).toHaveLength(0);
});

test('per verified signer: past the limit -> 429 with Retry-After, whatever X-Source says; another signer is unaffected', async () => {
	const statuses: number[] = [];
	let limited: Awaited<ReturnType<typeof postLead>> | undefined;
	for (let i = 0; i < 6; i++) {
		// a new X-Source each time: the limit is on the secret that signed, not on a header
		const answer = await postLead(stack.url, validLead(), {
			headers: { 'x-source': `source-${i}` },
		});
		statuses.push(answer.status);
		limited = answer;
	}
	expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
	expect(limited!.body).toMatchObject({ code: 'rate_limited', limit: 'signer' });
	expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);

	const other = await postLead(stack.url, validLead(), { secret: OTHER_SECRET });
	expect(other.status).toBe(200);
});

test('refused signatures past the per-client limit -> 429, every one counted in one row, none logged on a line of its own', async () => {
	// a minute of its own for the log lines: the refusals of the tests before count towards them
	stack.clock.advance(60);
	const statuses: number[] = [];
	const ids: string[] = [];
	let limited: Awaited<ReturnType<typeof postLead>> | undefined;
	for (let i = 0; i < 5; i++) {
		const answer = await postLead(stack.url, validLead(), { secret: 'a-forger-0123456789' });
		statuses.push(answer.status);
		ids.push(answer.body.correlation_id as string);
		limited = answer;
	}
	expect(statuses).toEqual([401, 401, 401, 429, 429]);
	// which limit: the Lead Intake node answers its source 502 for this one (n8n's signature)
	expect(limited!.body).toMatchObject({ code: 'rate_limited', limit: 'refused-signature' });
	expect(await stack.sql`SELECT 1 FROM dlq WHERE reason = 'signature_invalid'`).toHaveLength(0);
	await stack.processor.flush();
	const [row] = await stack.sql`SELECT occurrences FROM dlq WHERE reason = 'signature_invalid'`;
	expect(row).toEqual({ occurrences: 5 });
	// the refusals within the limit have their warn line; those past it only a debug one
	const logged = ids.map((id) => stack.logs.some((line) => line.includes(id)));
	expect(logged).toEqual([true, true, true, false, false]);
});

test('refusals of any kind past REFUSED_PER_MINUTE a minute from one address are not logged on a line of their own', async () => {
	const refusals = [
		// a malformed signature header (400), an unknown path (404), an unsupported encoding (415)
		(id: string) =>
			fetch(`${stack.url}/webhook/lead`, {
				method: 'POST',
				headers: {
					'x-correlation-id': id,
					'webhook-id': 'flood',
					'webhook-timestamp': 'nope',
					'webhook-signature': 'v1,x',
				},
				body: '{}',
			}),
		(id: string) => fetch(`${stack.url}/no-such-path`, { headers: { 'x-correlation-id': id } }),
		(id: string) =>
			fetch(`${stack.url}/webhook/lead`, {
				method: 'POST',
				headers: { 'x-correlation-id': id, 'content-encoding': 'gzip' },
				body: '{}',
			}),
	];
	stack.clock.advance(60);
	const ids: string[] = [];
	for (let i = 0; i < 12; i++) {
		const id = `log-flood-${i}`;
		const answer = await refusals[i % refusals.length]!(id);
		expect(answer.status).toBeGreaterThanOrEqual(400);
		ids.push(id);
	}
	const logged = ids.map((id) => stack.logs.some((line) => line.includes(id)));
	// in a minute of their own: REFUSED_PER_MINUTE (3) of this address's refusals had a line, the
	// others only a debug one
	expect(logged).toEqual([true, true, true, ...Array(9).fill(false)]);
});

describe('no lockout: what others send from an address never refuses a good lead or the right token', () => {
	const REFUSED_PER_MINUTE = 5;
	let shared: Stack;
	beforeAll(async () => {
		shared = await startStack({
			env: {
				REFUSED_PER_MINUTE: String(REFUSED_PER_MINUTE),
				REFUSED_TOKENS_PER_MINUTE: '3',
				RATE_LIMIT_PER_MINUTE: '100000',
			},
		});
	});
	afterAll(() => shared.close());

	test('junk and signed leads interleaved from one address at full speed: every signed lead accepted, junk refused and counted', async () => {
		const JUNK = 400;
		const LEADS = 100;
		// one lead after every four junk requests, 16 in flight at once, all from 127.0.0.1
		const kinds = Array.from({ length: JUNK + LEADS }, (_, i) => (i % 5 === 4 ? 'lead' : 'junk'));
		const junk = [
			() => postLead(shared.url, validLead(), { secret: 'a-forger-0123456789' }),
			() => postLead(shared.url, validLead(), { secret: 'a-forger-0123456789', scheme: 'v1' }),
			() =>
				fetch(`${shared.url}/webhook/lead`, { method: 'POST', body: '{"junk":true}' }).then(
					async (response) => ({
						status: response.status,
						body: (await response.json()) as Record<string, unknown>,
					}),
				),
			() =>
				postLead(shared.url, validLead(), {
					timestamp: String(Math.floor(shared.clock.now.getTime() / 1000) - 3600),
				}),
		];
		const statuses = { lead: [] as number[], junk: [] as number[] };
		let next = 0;
		await Promise.all(
			Array.from({ length: 16 }, async () => {
				for (let i = next++; i < kinds.length; i = next++) {
					const kind = kinds[i]!;
					const answer =
						kind === 'lead'
							? await postLead(shared.url, validLead(), { key: `shared-${i}` })
							: await junk[i % junk.length]!();
					statuses[kind].push(answer.status);
					if (kind === 'lead') expect(answer.body).toMatchObject({ status: 'accepted' });
				}
			}),
		);
		expect(statuses.lead).toEqual(Array(LEADS).fill(200));
		const refused = statuses.junk.filter((status) => status === 401 || status === 409).length;
		expect(refused).toBe(REFUSED_PER_MINUTE);
		expect(statuses.junk.filter((status) => status === 429)).toHaveLength(
			JUNK - REFUSED_PER_MINUTE,
		);
		await shared.processor.flush();
		const [counted] =
			await shared.sql`SELECT coalesce(sum(occurrences), 0)::int AS n FROM dlq WHERE run_id IS NULL`;
		expect(counted).toEqual({ n: JUNK });
		expect(await shared.sql`SELECT 1 FROM runs`).toHaveLength(LEADS);
	});

	test('wrong service tokens past the limit -> 429; the right one from the same address is never refused', async () => {
		const statuses: number[] = [];
		for (let i = 0; i < 6; i++) {
			statuses.push(
				(await shared.internal('GET', '/internal/stats/runs', undefined, 'a-guess-0123456789'))
					.status,
			);
			const right = await shared.internal('GET', '/internal/stats/runs');
			expect(right.status).toBe(200);
		}
		expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
		const limited = await shared.internal('GET', '/internal/dlq', undefined, null);
		expect(limited.status).toBe(429);
		expect(limited.body).toMatchObject({ code: 'rate_limited', limit: 'refused-token' });
		expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
		// the right token with a body that is refused for itself still gets its own answer
		expect(
			(await shared.internal('POST', '/internal/kpi/compute-daily', { day: 'x' })).status,
		).toBe(400);
	});

	test('the 429 of a throttled token reaches a client still streaming a 2 MB body', async () => {
		// past the limit (the test before did it already when run with it)
		for (let i = 0; i < 4; i++) {
			await shared.internal('GET', '/internal/stats/runs', undefined, 'a-guess-0123456789');
		}
		const bytes = 2 * 1024 * 1024;
		const answer = await streamRequest({
			port: Number(new URL(shared.url).port),
			head: `POST /internal/dlq/replay HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a-guess-0123456789\r\nContent-Type: application/json\r\nContent-Length: ${bytes}`,
			bodyBytes: bytes,
		});
		expect(answer.status).toBe(429);
		expect(JSON.parse(answer.body)).toMatchObject({ code: 'rate_limited' });
		expect({ sent: answer.sent, writeError: answer.writeError }).toEqual({
			sent: bytes,
			writeError: null,
		});
	});
});

// with the same-person check on, a lead is stored by a statement of its own after its count
describe.each([
	['the same-person check off', { window_hours: 0 }],
	['the same-person check on', 'shipped'],
] as const)(
	'limits shared by every processor (one Postgres), %s: two processors allow a limit once, not twice',
	(_, duplicates) => {
		const PER_SOURCE = 4;
		const PER_CLIENT = 3;
		let first: Stack;
		let second: Stack;
		beforeAll(async () => {
			const env = {
				SOURCE_RATE_LIMIT_PER_MINUTE: String(PER_SOURCE),
				REFUSED_PER_MINUTE: String(PER_CLIENT),
				RATE_LIMIT_PER_MINUTE: '100000',
			};
			first = await startStack({ env, duplicates });
			second = await startStack({ env, duplicates, databaseUrl: first.databaseUrl });
		});
		afterAll(async () => {
			await second.close();
			await first.close();
		});

		/** The windows are whole UTC minutes: a test that straddles two would count twice. */
		async function notAtTheEndOfAMinute(): Promise<void> {
			await waitFor(() => Date.now() % 60_000 < 50_000, {
				what: 'a minute with 10 seconds left',
				deadlineMs: 15_000,
				intervalMs: 250,
			});
		}

		test('per lead source: the leads of one source sent alternately to both are allowed PER_SOURCE times in all; another source is unaffected', async () => {
			await notAtTheEndOfAMinute();
			const statuses: number[] = [];
			for (let i = 0; i < 2 * PER_SOURCE + 2; i++) {
				// a person of its own each: accepted, not a duplicate
				const person = validLead({ email: `shared-${i}@example.com`, phone: `+49 170 55500${i}` });
				const answer = await postLead([first, second][i % 2]!.url, person, {
					headers: { 'x-source': 'shared-source' },
				});
				statuses.push(answer.status);
				if (answer.status === 429) {
					expect(answer.body).toMatchObject({ code: 'rate_limited', limit: 'source' });
					expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
				}
			}
			expect(statuses.filter((status) => status === 200)).toHaveLength(PER_SOURCE);
			expect(statuses.slice(PER_SOURCE).every((status) => status === 429)).toBe(true);
			// a refused lead left nothing behind: no run, no identity of its person
			expect(await first.sql`SELECT status FROM runs WHERE source = 'shared-source'`).toEqual(
				Array.from({ length: PER_SOURCE }, () => ({ status: 'processed' })),
			);
			expect(
				await first.sql`SELECT 1 FROM person_identities p JOIN runs r USING (run_id)
				WHERE r.source = 'shared-source'`,
			).toHaveLength(duplicates === 'shipped' ? 2 * PER_SOURCE : 0);
			const other = await postLead(second.url, validLead(), { headers: { 'x-source': 'other' } });
			expect(other.status).toBe(200);
		});

		test('per client: refused signatures from one address count over both processors', async () => {
			await notAtTheEndOfAMinute();
			const statuses: number[] = [];
			for (let i = 0; i < 2 * PER_CLIENT; i++) {
				const answer = await postLead([first, second][i % 2]!.url, validLead(), {
					secret: 'a-forger-0123456789',
				});
				statuses.push(answer.status);
			}
			expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
		});
	},
);

describe('a lead held up in its statement holds up no other lead', () => {
	let own: Stack;
	beforeAll(async () => {
		own = await startStack({
			// room to see the held lead still waiting after the other was answered
			env: { DB_QUERY_TIMEOUT_MS: '8000', SOURCE_RATE_LIMIT_PER_MINUTE: '1000' },
			duplicates: 'shipped',
		});
	});
	afterAll(() => own.close());

	test("while a lead of one source waits for its person's lock, the next lead of that source is counted and answered", async () => {
		const person = validLead({ email: 'held.person@example.com', phone: '+49 170 5550001' });
		const headers = { 'x-source': 'held-source' };
		expect((await postLead(own.url, person, { headers })).status).toBe(200);
		const holder = await own.sql.reserve();
		try {
			// the person's identity locks, as the same-person check takes them
			await holder`BEGIN`;
			await holder`
				SELECT pg_advisory_xact_lock(hashtextextended(identity_hash, 21))
				FROM person_identities p JOIN runs r USING (run_id) WHERE r.source = 'held-source'`;
			const held = postLead(own.url, person, { headers });
			const waiting = async () => {
				const [row] = await own.sql<{ n: number }[]>`
					SELECT count(*)::int AS n FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'
						AND wait_event = 'advisory' AND query LIKE '%same_person_first%'`;
				return row!.n;
			};
			await waitFor(async () => ((await waiting()) === 1 ? true : null), {
				what: "the second lead to wait for its person's lock",
				deadlineMs: 5000,
				intervalMs: 20,
			});
			const other = await postLead(own.url, validLead({ email: 'free@example.com', phone: null }), {
				headers,
			});
			expect(other.status).toBe(200);
			// answered while the held lead still waits: before, its count waited for that statement
			expect(await waiting()).toBe(1);
			await holder`COMMIT`;
			expect((await held).status).toBe(200);
		} finally {
			holder.release();
		}
	});
});

test('expired windows are all deleted in one pass, a batch at a time: a flood from many addresses does not outstay two windows', async () => {
	const old = new Date(Date.now() - 3 * 60_000);
	await stack.sql`
		INSERT INTO rate_limit_hits (key, window_start, hits)
		SELECT 'refused-signature:flood-' || n, ${old}, 1 FROM generate_series(1, 2500) AS n`;
	const current = new Date(Math.floor(Date.now() / 60_000) * 60_000);
	await stack.sql`
		INSERT INTO rate_limit_hits (key, window_start, hits) VALUES ('refused-signature:now', ${current}, 1)
		ON CONFLICT DO NOTHING`;
	expect(
		await deleteExpiredWindows(stack.sql, new Date(Date.now() - 2 * 60_000), 1000),
	).toBeGreaterThanOrEqual(2500);
	const [left] = await stack.sql<{ expired: number; current: number }[]>`
		SELECT count(*) FILTER (WHERE window_start < ${new Date(Date.now() - 2 * 60_000)})::int AS expired,
			count(*) FILTER (WHERE key = 'refused-signature:now')::int AS current
		FROM rate_limit_hits`;
	expect(left).toEqual({ expired: 0, current: 1 });
});
