import { waitFor } from '@lead-intake-hub/stack';
import {
	postLead,
	signatureHeaders,
	startStack,
	TEST_SECRET,
	validLead,
	type Stack,
} from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({
		env: { WEBHOOK_HMAC_SECRET: `${TEST_SECRET},next-rotation-secret-0123456789` },
	});
});
afterAll(() => stack.close());

const eventsOf = async (runId: string) =>
	(
		await stack.sql<{ event_type: string; actor: string }[]>`
		SELECT event_type, actor FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`
	).map((row) => `${row.event_type}/${row.actor}`);

describe('a valid lead (seed smoke: valid)', () => {
	test('is delivered once, recorded as processed, and its raw copy purged', async () => {
		const answer = await postLead(stack.url, validLead(), {
			key: 'smoke-valid-1',
			headers: { 'x-source': 'landing-page' },
		});

		expect(answer.status).toBe(200);
		expect(answer.body).toEqual({
			status: 'accepted',
			run_id: expect.any(String),
			run_status: 'processed',
			crm_id: expect.stringMatching(/^crm_/),
		});
		const runId = answer.body.run_id as string;
		const [run] = await stack.sql`SELECT * FROM runs WHERE run_id = ${runId}`;
		expect(run).toMatchObject({
			idempotency_key: 'smoke-valid-1',
			source: 'landing-page',
			status: 'processed',
			crm_id: answer.body.crm_id,
			email_masked: 'j***@example.com',
			email_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
		});
		expect(run!.processed_at).toBeInstanceOf(Date);
		expect(await eventsOf(runId)).toEqual(['lead_received/webhook', 'crm_upserted/processor']);
		const attempts =
			await stack.sql`SELECT attempt_no, trigger, status_code, success FROM delivery_attempts WHERE run_id = ${runId}`;
		expect(attempts).toEqual([
			{ attempt_no: 1, trigger: 'intake', status_code: 200, success: true },
		]);
		expect(
			await stack.sql`SELECT 1 FROM runs WHERE run_id = ${runId} AND sealed_lead IS NOT NULL`,
		).toHaveLength(0);

		const [crmLead] = (await stack.crm.leads()).filter((lead) => lead.key === 'smoke-valid-1');
		expect(crmLead).toMatchObject({ run_id: runId, upserts: 1 });
		expect(crmLead!.payload).toMatchObject({
			customer_email: 'jane.doe@example.com',
			customer_zip: '66123',
			is_homeowner: true,
			product: { name: 'Solaranlage' },
		});
	});

	test('the correlation id is taken from the caller, echoed, and logged', async () => {
		const answer = await postLead(stack.url, validLead(), {
			headers: { 'x-correlation-id': 'corr-intake-42' },
		});
		expect(answer.headers.get('x-correlation-id')).toBe('corr-intake-42');
		const line = stack.logs.find((entry) => entry.includes('"corr-intake-42"'));
		expect(JSON.parse(line!)).toMatchObject({
			correlation_id: 'corr-intake-42',
			run_id: answer.body.run_id,
			res: { status: 200 },
		});
		const [run] =
			await stack.sql`SELECT correlation_id FROM runs WHERE run_id = ${answer.body.run_id as string}`;
		expect(run!.correlation_id).toBe('corr-intake-42');
	});

	test('without one, a correlation id is generated', async () => {
		const answer = await postLead(stack.url, validLead());
		expect(answer.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
	});
});

describe('idempotency (seed smoke: same key again)', () => {
	test('the same key and body answers duplicate with the original run; nothing new is written or sent', async () => {
		const first = await postLead(stack.url, validLead(), { key: 'repeat-1' });
		const again = await postLead(stack.url, validLead(), { key: 'repeat-1' });

		expect(again.status).toBe(200);
		expect(again.body).toEqual({
			status: 'duplicate',
			run_id: first.body.run_id,
			existing_status: 'processed',
		});
		expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'repeat-1'`).toHaveLength(1);
		expect(await eventsOf(first.body.run_id as string)).toEqual([
			'lead_received/webhook',
			'crm_upserted/processor',
			'lead_duplicate/webhook',
		]);
		expect((await stack.crm.leads()).find((lead) => lead.key === 'repeat-1')!.upserts).toBe(1);
	});

	test('key order and whitespace do not make a different body', async () => {
		const first = await postLead(stack.url, null, {
			key: 'repeat-2',
			rawBody: '{"a":1,"house":{"is_owner":true},"zipcode":"66000"}',
		});
		const again = await postLead(stack.url, null, {
			key: 'repeat-2',
			rawBody: '{ "zipcode": "66000", "house": {"is_owner": true}, "a": 1 }',
		});
		expect(again.body).toMatchObject({ status: 'duplicate', run_id: first.body.run_id });
	});

	test('the same key with a different body -> 422 idempotency_key_reused', async () => {
		const first = await postLead(stack.url, validLead(), { key: 'reused-1' });
		const other = await postLead(stack.url, validLead({ phone: '+49 999' }), { key: 'reused-1' });
		expect(other.status).toBe(422);
		expect(other.body).toMatchObject({ code: 'idempotency_key_reused', run_id: first.body.run_id });
	});

	test.each([
		['missing', null, 'idempotency_key_missing'],
		['blank', '   ', 'idempotency_key_missing'],
		['too long', 'k'.repeat(201), 'idempotency_key_invalid'],
	])('legacy scheme: %s X-Idempotency-Key -> 400', async (_name, key, code) => {
		const answer = await postLead(stack.url, validLead(), { key, scheme: 'v1' });
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({ code, correlation_id: expect.any(String) });
	});

	test('v2: webhook-id is the key; a different X-Idempotency-Key beside it -> 400', async () => {
		const answer = await postLead(stack.url, validLead(), {
			key: 'v2-key-1',
			headers: { 'x-idempotency-key': 'another-key' },
		});
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({ code: 'idempotency_key_conflict' });
		const tooLong = await postLead(stack.url, validLead(), { key: 'k'.repeat(201) });
		expect(tooLong.body).toMatchObject({ code: 'webhook_id_invalid' });
	});

	test('a key holding an e-mail address is stored (and sent to the CRM) as a salted hash', async () => {
		const key = 'Lead for jane.doe@example.com';
		const first = await postLead(stack.url, validLead(), { key });
		const again = await postLead(stack.url, validLead(), { key });
		expect(again.body).toMatchObject({ status: 'duplicate', run_id: first.body.run_id });
		const [run] =
			await stack.sql`SELECT idempotency_key FROM runs WHERE run_id = ${first.body.run_id as string}`;
		expect(run!.idempotency_key).toMatch(/^pii-[0-9a-f]{40}$/);
		const crm = (await stack.crm.leads()).find((lead) => lead.run_id === first.body.run_id);
		expect(crm!.key).toBe(run!.idempotency_key);
	});
});

describe('signature (seed smoke: bad signature, timestamp one hour old)', () => {
	test('missing headers -> 401', async () => {
		const response = await fetch(`${stack.url}/webhook/lead`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'x-idempotency-key': 'nosig' },
			body: '{}',
		});
		expect(response.status).toBe(401);
		expect(await response.json()).toMatchObject({ code: 'signature_missing' });
	});

	test.each(['v2', 'v1'] as const)(
		'%s: a wrong signature -> 401, and the attempts are kept for investigation, counted in one row',
		async (scheme) => {
			const before =
				await stack.sql`SELECT coalesce(sum(occurrences), 0)::int AS n FROM dlq WHERE reason = 'signature_invalid'`;
			for (let i = 0; i < 3; i++) {
				const answer = await postLead(stack.url, validLead(), {
					secret: 'an-attacker-secret-0123456789',
					key: `nosig-${scheme}-${i}`,
					scheme,
				});
				expect(answer.status).toBe(401);
				expect(answer.body).toMatchObject({ code: 'signature_invalid' });
			}
			await stack.processor.flush();
			const rows =
				await stack.sql`SELECT status, alert, occurrences, payload FROM dlq WHERE reason = 'signature_invalid'`;
			expect(rows.reduce((sum, row) => sum + row.occurrences, 0)).toBe(before[0]!.n + 3);
			expect(rows.length).toBeLessThanOrEqual(2); // one per minute bucket
			expect(rows[0]).toMatchObject({ status: 'dead', alert: true });
			// a signature header is named, its value never kept
			const kept = rows[0]!.payload.first_request.headers as Record<string, string>;
			for (const name of ['x-signature', 'webhook-signature']) {
				if (name in kept) expect(kept[name]).toBe('***');
			}
			expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key LIKE 'nosig%'`).toHaveLength(
				0,
			);
		},
	);

	test.each(['v2', 'v1'] as const)(
		'%s: a timestamp one hour old, or one hour ahead -> 409',
		async (scheme) => {
			for (const offset of [-3600, 3600]) {
				const answer = await postLead(stack.url, validLead(), {
					timestamp: String(Math.floor(Date.now() / 1000) + offset),
					scheme,
				});
				expect(answer.status).toBe(409);
				expect(answer.body).toMatchObject({ code: 'timestamp_out_of_window' });
			}
		},
	);

	test('a non-integer timestamp -> 400', async () => {
		const answer = await postLead(stack.url, validLead(), { timestamp: '17e8' });
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({ code: 'timestamp_invalid' });
	});

	test('the signature covers the raw bytes: re-serialised JSON fails', async () => {
		const raw = '{"zipcode": "66123", "house": {"is_owner": true}}';
		const response = await fetch(`${stack.url}/webhook/lead`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json',
				...signatureHeaders(JSON.stringify(JSON.parse(raw)), { key: 'raw-bytes' }),
			},
			body: raw,
		});
		expect(response.status).toBe(401);
	});

	test('during rotation both secrets are accepted, and a v2 request may carry both signatures', async () => {
		const next = 'next-rotation-secret-0123456789';
		expect((await postLead(stack.url, validLead(), { secret: next })).status).toBe(200);
		expect((await postLead(stack.url, validLead(), { secret: next, scheme: 'v1' })).status).toBe(
			200,
		);
		const raw = JSON.stringify(validLead());
		const old = signatureHeaders(raw, { key: 'both-secrets' });
		const fresh = signatureHeaders(raw, {
			key: 'both-secrets',
			secret: 'not-yet-configured-0123456789',
			timestamp: old['webhook-timestamp'],
		});
		const response = await fetch(`${stack.url}/webhook/lead`, {
			method: 'POST',
			headers: {
				...old,
				'webhook-signature': `${fresh['webhook-signature']} ${old['webhook-signature']}`,
			},
			body: raw,
		});
		expect(response.status).toBe(200);
	});
});

describe('the lead source is signed (X-Source)', () => {
	const send = (headers: Record<string, string>, raw: string) =>
		fetch(`${stack.url}/webhook/lead`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', ...headers },
			body: raw,
		});

	test.each(['v2', 'v1'] as const)(
		'%s: a source changed, added or taken away on the way -> 401; as signed -> stored under it',
		async (scheme) => {
			const raw = JSON.stringify(validLead());
			const signed = (key: string, source?: string) => ({
				...signatureHeaders(raw, { key, scheme, source }),
				...(scheme === 'v1' ? { 'x-idempotency-key': key } : {}),
			});
			const changed = await send(
				{ ...signed(`${scheme}-changed`, 'website'), 'x-source': 'partner' },
				raw,
			);
			const added = await send({ ...signed(`${scheme}-added`), 'x-source': 'partner' }, raw);
			const { 'x-source': _taken, ...takenAway } = {
				...signed(`${scheme}-taken`, 'website'),
				'x-source': 'website',
			};
			const taken = await send(takenAway, raw);
			for (const answer of [changed, added, taken]) {
				expect(answer.status).toBe(401);
				expect(await answer.json()).toMatchObject({ code: 'signature_invalid' });
			}
			const kept = await send(
				{ ...signed(`${scheme}-kept`, 'website'), 'x-source': 'website' },
				raw,
			);
			expect(kept.status).toBe(200);
			const [run] = await stack.sql<{ source: string }[]>`
				SELECT source FROM runs WHERE idempotency_key = ${`${scheme}-kept`}`;
			expect(run?.source).toBe('website');
			expect(
				await stack.sql`SELECT 1 FROM runs WHERE idempotency_key ~ ${`${scheme}-(changed|added|taken)`}`,
			).toHaveLength(0);
		},
	);

	test('a signature that leaves the source out is taken only while WEBHOOK_UNSIGNED_SOURCE is on, and said once', async () => {
		const unsigned = (key: string) => {
			const raw = JSON.stringify(validLead());
			return send({ ...signatureHeaders(raw, { key }), 'x-source': 'old-node' }, raw);
		};
		const refused = await unsigned('unsigned-source-off');
		expect(refused.status).toBe(401);
		expect(await refused.json()).toMatchObject({
			code: 'signature_invalid',
			detail: expect.stringContaining('WEBHOOK_UNSIGNED_SOURCE=on'),
		});
		const lenient = await startStack({ env: { WEBHOOK_UNSIGNED_SOURCE: 'on' } });
		try {
			for (const key of ['unsigned-source-on-1', 'unsigned-source-on-2']) {
				const raw = JSON.stringify(validLead());
				const answer = await fetch(`${lenient.url}/webhook/lead`, {
					method: 'POST',
					headers: { ...signatureHeaders(raw, { key }), 'x-source': 'old-node' },
					body: raw,
				});
				expect(answer.status).toBe(200);
			}
			const runs = await lenient.sql<{ source: string }[]>`
				SELECT source FROM runs WHERE idempotency_key LIKE '%unsigned-source-on-%'`;
			expect(runs.map(({ source }) => source)).toEqual(['old-node', 'old-node']);
			expect(lenient.logs.filter((line) => line.includes('unsigned X-Source'))).toHaveLength(1);
			// answered as before the source was signed: a stale one is out of its window
			const stale = JSON.stringify(validLead());
			const hourAgo = String(Math.floor(Date.now() / 1000) - 3600);
			const old = await fetch(`${lenient.url}/webhook/lead`, {
				method: 'POST',
				headers: {
					...signatureHeaders(stale, { key: 'unsigned-source-stale', timestamp: hourAgo }),
					'x-source': 'old-node',
				},
				body: stale,
			});
			expect(old.status).toBe(409);
			// a source bound by the signature is still held to it
			const raw = JSON.stringify(validLead());
			const changed = await fetch(`${lenient.url}/webhook/lead`, {
				method: 'POST',
				headers: {
					...signatureHeaders(raw, { key: 'unsigned-source-changed', source: 'website' }),
					'x-source': 'partner',
				},
				body: raw,
			});
			expect(changed.status).toBe(401);
		} finally {
			await lenient.close();
		}
	});
});

describe('replays (lock the doors)', () => {
	test('v2: a captured request replayed with another key fails the signature and writes nothing', async () => {
		const raw = JSON.stringify(validLead({ name: 'Replay V2' }));
		const captured = signatureHeaders(raw, { key: 'replay-v2-original' });
		const send = (headers: Record<string, string>) =>
			fetch(`${stack.url}/webhook/lead`, { method: 'POST', headers, body: raw });
		expect((await send(captured)).status).toBe(200);
		const replayed = await send({ ...captured, 'webhook-id': 'replay-v2-other' });
		expect(replayed.status).toBe(401);
		expect(
			await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'replay-v2-other'`,
		).toHaveLength(0);
		expect(
			(await stack.crm.leads()).filter((lead) => lead.key.startsWith('replay-v2')),
		).toHaveLength(1);
		const again = await send(captured);
		expect(await again.json()).toMatchObject({ status: 'duplicate' });
	});

	test('v1: the same signature with another key -> 409 signature_replayed, one CRM write only', async () => {
		const raw = JSON.stringify(validLead({ name: 'Replay V1' }));
		const captured = signatureHeaders(raw, { key: 'replay-v1-original', scheme: 'v1' });
		const send = (headers: Record<string, string>) =>
			fetch(`${stack.url}/webhook/lead`, { method: 'POST', headers, body: raw });
		expect((await send(captured)).status).toBe(200);
		const replayed = await send({ ...captured, 'x-idempotency-key': 'replay-v1-other' });
		expect(replayed.status).toBe(409);
		expect(await replayed.json()).toMatchObject({ code: 'signature_replayed' });
		expect(
			await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'replay-v1-other'`,
		).toHaveLength(0);
		expect(
			(await stack.crm.leads()).filter((lead) => lead.key.startsWith('replay-v1')),
		).toHaveLength(1);
		// the same request again (same key) is a plain repeat
		expect(await (await send(captured)).json()).toMatchObject({ status: 'duplicate' });
	});

	test('v1: one signature sent with six keys while the first is being stored -> one lead, five 409 signature_replayed, no 500', async () => {
		// the same-person check on: the person is known, so each of the six waits on the person's
		// locks, which the test holds: all six statements begin before the first is committed
		const checked = await startStack({ duplicates: 'shipped' });
		await postLead(checked.url, validLead(), { key: 'race-v1-person' });
		const locks = await checked.sql.reserve();
		try {
			await locks`SELECT pg_advisory_lock(hashtextextended(identity_hash, 21)) FROM person_identities`;
			const raw = JSON.stringify(validLead({ name: 'Race V1' }));
			const captured = signatureHeaders(raw, { key: 'race-v1-0', scheme: 'v1' });
			const pending = Promise.all(
				Array.from({ length: 6 }, (_, index) =>
					fetch(`${checked.url}/webhook/lead`, {
						method: 'POST',
						headers: { ...captured, 'x-idempotency-key': `race-v1-${index}` },
						body: raw,
					}).then(async (response) => ({
						status: response.status,
						code: ((await response.json()) as { code?: string }).code,
					})),
				),
			);
			await waitFor(
				async () => {
					const [row] = await checked.sql<{ n: number }[]>`
						SELECT count(*)::int AS n FROM pg_stat_activity
						WHERE datname = current_database() AND wait_event_type = 'Lock'`;
					return row!.n;
				},
				{ what: 'the six statements waiting', until: (n) => n >= 6, deadlineMs: 10_000 },
			);
			await locks`SELECT pg_advisory_unlock_all()`;
			const answers = await pending;
			expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
			expect(answers.filter((answer) => answer.status === 409)).toEqual(
				Array(5).fill({ status: 409, code: 'signature_replayed' }),
			);
		} finally {
			locks.release();
			await checked.close();
		}
	});
});

describe('payload validation (seed smoke: malformed JSON)', () => {
	test('malformed JSON -> 400 invalid_json, no run', async () => {
		const answer = await postLead(stack.url, null, {
			key: 'malformed-1',
			rawBody: '{"email": "a@b.de",',
		});
		expect(answer.status).toBe(400);
		expect(answer.body).toEqual({
			detail: 'Request body is not valid JSON',
			code: 'invalid_json',
			correlation_id: expect.any(String),
		});
		expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'malformed-1'`).toHaveLength(
			0,
		);
	});

	test('a JSON array -> 422 with the zod issues', async () => {
		const answer = await postLead(stack.url, [validLead()]);
		expect(answer.status).toBe(422);
		expect(answer.body).toMatchObject({ code: 'invalid_lead', issues: [{ path: '(body)' }] });
	});

	test('a known field of the wrong type -> 422 naming it', async () => {
		const answer = await postLead(stack.url, validLead({ house: { is_owner: 1 } }));
		expect(answer.status).toBe(422);
		expect(answer.body.issues).toEqual([expect.objectContaining({ path: 'house.is_owner' })]);
	});

	test('no error answer carries a stack trace', async () => {
		const answer = await postLead(stack.url, null, { rawBody: '{' });
		expect(JSON.stringify(answer.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
	});
});

describe('rules', () => {
	test.each([
		['ZIP_NOT_66XXX', { address: { zip: '10115', street: 'x' } }],
		['NOT_HOMEOWNER', { house: { is_owner: false } }],
		['MISSING_REQUIRED_FIELD', { address: { street: 'no zip' } }],
	])(
		'%s: recorded as rejected, audited, answered 200, never sent to the CRM',
		async (code, overrides) => {
			const key = `rule-${code}`;
			const answer = await postLead(stack.url, validLead(overrides), { key });

			expect(answer.status).toBe(200);
			expect(answer.body).toMatchObject({
				status: 'rejected',
				run_id: expect.any(String),
				reasons: [code],
			});
			const [run] =
				await stack.sql`SELECT status, rejection_reasons, error_code FROM runs WHERE idempotency_key = ${key}`;
			expect(run).toEqual({ status: 'rejected', rejection_reasons: [code], error_code: code });
			expect(await eventsOf(answer.body.run_id as string)).toEqual([
				'lead_received/webhook',
				'lead_rejected/processor',
			]);
			expect((await stack.crm.leads()).some((lead) => lead.key === key)).toBe(false);
			expect(
				await stack.sql`SELECT 1 FROM runs WHERE run_id = ${answer.body.run_id as string} AND sealed_lead IS NOT NULL`,
			).toHaveLength(0);
		},
	);

	test('a missing field is named in the answer', async () => {
		const answer = await postLead(stack.url, { email: 'x@y.de', house: { is_owner: true } });
		expect(answer.body).toMatchObject({
			reasons: ['MISSING_REQUIRED_FIELD'],
			missing_fields: ['zip'],
		});
	});

	test('normalisation happens before the rules: "true" strings and zip numbers pass (typed attributes)', async () => {
		const answer = await postLead(stack.url, {
			email: ' X@Y.DE',
			phone: '+49123',
			zipcode: 66123,
			house: { is_owner: 'true' },
		});
		expect(answer.body).toMatchObject({ status: 'accepted' });
	});
});

test('a query string on the intake is refused, naming its parameters, and nothing is recorded', async () => {
	const raw = JSON.stringify(validLead());
	const response = await fetch(`${stack.url}/webhook/lead?dry_run=1&x=2`, {
		method: 'POST',
		headers: {
			'content-type': 'application/json',
			...signatureHeaders(raw, { key: 'with-query' }),
		},
		body: raw,
	});
	expect(response.status).toBe(400);
	expect(await response.json()).toMatchObject({
		code: 'invalid_request',
		detail: 'Unknown query parameter "dry_run", "x": the intake takes none; nothing was done',
		issues: [expect.objectContaining({ path: 'dry_run' }), expect.objectContaining({ path: 'x' })],
	});
	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'with-query'`).toHaveLength(0);
});
