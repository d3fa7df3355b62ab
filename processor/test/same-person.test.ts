import { randomBytes, randomUUID } from 'node:crypto';
import { waitFor } from '@lead-intake-hub/stack';
import * as answers from '../src/api/answers.js';
import type { PendingQuery, Row } from 'postgres';
import { recoverInterrupted } from '../src/dlq/recovery.js';
import { checkInterruptedRuns } from '../src/intake/interrupted-check.js';
import { DEFAULT_LEAD_LIMITS } from '../src/intake/lead-body.js';
import { DEFAULT_DUPLICATE_SETTINGS } from '../src/intake/ruleset.js';
import { createLeadCipher } from '../src/pii/lead-cipher.js';
import { activate, readSeedDocument } from '../src/rules/document.js';
import { postLead, startStack, validLead, type Answer, type Stack } from './support/harness.js';

/*
 * One person, one lead: the same person again within the rules' window is a duplicate whatever
 * its key and source (docs/contract.md, "The same person"). Each test uses a person of its own.
 */

const person = () => {
	const tag = randomBytes(4).toString('hex');
	const digits = String(parseInt(tag, 16) % 10_000_000).padStart(7, '0');
	return { email: `Jane.${tag}@Example.com`, phone: `+49 170 ${digits}`, local: `0170 ${digits}` };
};

const send = (stack: Stack, lead: Record<string, unknown>, source: string) =>
	postLead(stack.url, lead, { headers: { 'x-source': source } });

async function runOf(stack: Stack, runId: unknown) {
	const [run] = await stack.sql<
		{
			status: string;
			duplicate_of: string | null;
			duplicate_match: string | null;
			source: string;
		}[]
	>`SELECT status, duplicate_of, duplicate_match, source FROM runs WHERE run_id = ${String(runId)}`;
	return run;
}

const crmLeadsOf = async (stack: Stack, emailLower: string) =>
	(await stack.crm.leads()).filter((lead) =>
		JSON.stringify(lead).toLowerCase().includes(emailLower),
	);

describe('with the shipped settings (24 h, e-mail or phone, drop)', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ duplicates: 'shipped' });
	});
	afterAll(() => stack.close());

	/** The recovery's dependencies, as the processor wires them, with the shipped rules. */
	async function recoveryDeps() {
		const { config } = stack;
		const document = await readSeedDocument(config.RULES_FILE, config.CRM_MAPPING_FILE);
		const ruleset = activate(1, { ...document, duplicates: DEFAULT_DUPLICATE_SETTINGS });
		return {
			sql: stack.sql,
			cipher: createLeadCipher(config.LEAD_ENCRYPTION_KEY),
			rules: { current: () => ruleset },
			emailHashSalt: config.EMAIL_HASH_SALT,
			leadLimits: DEFAULT_LEAD_LIMITS,
			deadlineMs: 5000,
			acceptedLeaseSeconds: config.ACCEPTED_LEASE_SECONDS,
		};
	}

	/**
	 * Leaves a run as a processor that died before its same-person check leaves it: accepted,
	 * holding its raw lead (`sealed`), marked and recorded as nobody, received at `receivedAt`.
	 */
	async function leaveUnchecked(runId: unknown, sealed: Buffer, receivedAt: PendingQuery<Row[]>) {
		await stack.sql`DELETE FROM person_identities WHERE run_id = ${String(runId)}`;
		await stack.sql`
			UPDATE runs SET status = 'accepted', duplicate_of = NULL, duplicate_match = NULL,
				processed_at = NULL, crm_id = NULL, lease_owner = NULL, lease_until = NULL,
				sealed_lead = ${sealed}, received_at = ${receivedAt}
			WHERE run_id = ${String(runId)}`;
	}

	test('a run whose lease runs out while the recovery checks runs is checked before the DLQ gets it', async () => {
		const who = person();
		const lead = validLead({ email: who.email, phone: who.phone });
		await send(stack, lead, 'a');
		const again = await send(stack, lead, 'b');
		expect(again.body).toMatchObject({ status: 'duplicate' });
		// the same person again, left unchecked by a processor that died: its lease runs out a
		// second after the recovery's first look at the clock
		const deps = await recoveryDeps();
		const t0 = stack.clock.now.getTime();
		await leaveUnchecked(
			again.body.run_id,
			deps.cipher.encrypt(Buffer.from(JSON.stringify(lead))),
			stack.sql`${new Date(t0 - (deps.acceptedLeaseSeconds - 1) * 1000)}::timestamptz`,
		);
		let reads = 0;
		// every look at the clock is 10 s after the one before
		const recover = () =>
			recoverInterrupted({ ...deps, now: () => new Date(t0 + 10_000 * reads++) });
		const dlqItems = () => stack.sql`SELECT 1 FROM dlq WHERE run_id = ${String(again.body.run_id)}`;
		await recover();
		expect(await dlqItems()).toEqual([]);
		// the next pass finds its lease run out, and checks it
		await recover();
		expect(await runOf(stack, again.body.run_id)).toMatchObject({
			status: 'duplicate',
			duplicate_of: again.body.duplicate_of,
		});
		expect(await dlqItems()).toEqual([]);
	});

	test('the recovery checks unchecked runs page by page, oldest first, past one it cannot read', async () => {
		const [who, other] = [person(), person()];
		const lead = validLead({ email: who.email, phone: who.phone });
		const [unreadable, first, again] = [
			await send(stack, validLead({ email: other.email, phone: other.phone }), 'a'),
			await send(stack, lead, 'a'),
			await send(stack, lead, 'b'),
		].map((answer) => String(answer.body.run_id));
		const deps = await recoveryDeps();
		const sealed = deps.cipher.encrypt(Buffer.from(JSON.stringify(lead)));
		// received within one millisecond of each other: the pages must not lose or repeat a run
		// to a cursor cut to milliseconds (the unreadable one would be read forever); in this
		// file's processor's time (its recovery runs too) their lease has not run out
		const base = stack.sql`(${stack.clock.now}::timestamptz + interval '0.000123 s')`;
		await leaveUnchecked(unreadable, randomBytes(64), stack.sql`${base}`);
		await leaveUnchecked(first, sealed, stack.sql`${base} + interval '1 microsecond'`);
		await leaveUnchecked(again, sealed, stack.sql`${base} + interval '2 microseconds'`);
		try {
			const now = new Date(stack.clock.now.getTime() + 3_600_000);
			const expired = { now, cutoff: new Date(now.getTime() - deps.acceptedLeaseSeconds * 1000) };
			expect(await checkInterruptedRuns(deps, expired, 1)).toBe(1);
			expect(await runOf(stack, first)).toMatchObject({ status: 'accepted', duplicate_of: null });
			expect(
				await stack.sql`SELECT 1 FROM person_identities WHERE run_id = ${first}`,
			).not.toHaveLength(0);
			expect(await runOf(stack, again)).toMatchObject({ status: 'duplicate', duplicate_of: first });
		} finally {
			// delivered again, so this file's processor never recovers them
			await stack.sql`UPDATE runs SET status = 'processed', sealed_lead = NULL
				WHERE run_id IN (${unreadable}, ${first})`;
		}
	});

	test('a repeat by phone that carries another e-mail is not the person asked about by e-mail (export, erase)', async () => {
		const who = person();
		const flatmate = `flatmate.${who.email}`;
		const first = await send(stack, validLead({ email: who.email, phone: who.phone }), 'a');
		const again = await send(stack, validLead({ email: flatmate, phone: who.local }), 'b');
		expect(again.body).toMatchObject({ status: 'duplicate', match: 'phone' });
		const runsOf = async (asked: { email?: string; phone?: string }) => {
			const answer = await stack.internal('POST', '/internal/privacy/export', asked);
			expect(answer.status).toBe(200);
			return (answer.body.runs as { run_id: string }[]).map((run) => run.run_id).sort();
		};
		const both = [String(first.body.run_id), String(again.body.run_id)].sort();
		expect(await runsOf({ email: who.email })).toEqual([first.body.run_id]);
		expect(await runsOf({ email: flatmate })).toEqual([again.body.run_id]);
		// asked about by the phone they share, both leads are that phone's
		expect(await runsOf({ phone: who.phone })).toEqual(both);

		const erased = await stack.internal('POST', '/internal/privacy/erase', { email: flatmate });
		expect(erased.body.run_ids).toEqual([again.body.run_id]);
		expect((await runOf(stack, first.body.run_id))!.status).not.toBe('erased');
	});

	test('the same person from two sources, e-mail in another case: duplicate of the first run, no CRM call', async () => {
		const who = person();
		const first = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-a');
		expect(first.body).toMatchObject({ status: 'accepted' });
		const callsBefore = await stack.crm.calls();

		const again = await send(
			stack,
			validLead({ email: `  ${who.email.toLowerCase()} `, phone: undefined }),
			'site-b',
		);
		expect(again.status).toBe(200);
		expect(again.body).toEqual({
			status: 'duplicate',
			run_id: expect.any(String),
			duplicate_of: first.body.run_id,
			match: 'email',
		});
		expect(again.body.run_id).not.toBe(first.body.run_id);
		expect(await stack.crm.calls()).toBe(callsBefore);
		expect(await runOf(stack, again.body.run_id)).toEqual({
			status: 'duplicate',
			duplicate_of: first.body.run_id,
			duplicate_match: 'email',
			source: 'site-b',
		});
		const events = await stack.sql<{ payload: Record<string, unknown> }[]>`
			SELECT payload FROM audit_events
			WHERE run_id = ${String(again.body.run_id)} AND event_type = 'lead_same_person'`;
		expect(events.map((event) => event.payload)).toEqual([
			{ duplicate_of: first.body.run_id, match: 'email', policy: 'drop' },
		]);
		// the sealed lead of a duplicate is not kept
		const [sealed] = await stack.sql`
			SELECT sealed_lead FROM runs WHERE run_id = ${String(again.body.run_id)}`;
		expect(sealed!.sealed_lead).toBeNull();
	});

	test('the same phone written nationally and with another e-mail: match phone', async () => {
		const who = person();
		const first = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-a');
		const again = await send(
			stack,
			validLead({ email: `other.${who.email}`, phone: who.local.replace(' ', '/') }),
			'site-b',
		);
		expect(again.body).toMatchObject({
			status: 'duplicate',
			duplicate_of: first.body.run_id,
			match: 'phone',
		});
	});

	test('erasure by the phone alone, written another way, finds the delivered first run through its phone identity and the later run through it; no identity hash is left', async () => {
		const who = person();
		const first = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-a');
		const again = await send(
			stack,
			validLead({ email: `other.${who.email}`, phone: who.local }),
			'site-b',
		);
		expect(again.body).toMatchObject({ status: 'duplicate', match: 'phone' });
		const runIds = [String(first.body.run_id), String(again.body.run_id)];
		// delivered: no raw lead is held that could be searched for the phone
		const held = await stack.sql`
			SELECT run_id FROM runs WHERE run_id = ANY(${runIds}::uuid[]) AND sealed_lead IS NOT NULL`;
		expect(held).toEqual([]);
		const hashes = (
			await stack.sql<{ identity_hash: string }[]>`
				SELECT identity_hash FROM person_identities WHERE run_id = ${runIds[0]!}`
		).map((row) => row.identity_hash);
		expect(hashes).toHaveLength(2);

		const erased = await stack.internal('POST', '/internal/privacy/erase', {
			phone: who.local.replace(' ', '-'),
		});
		expect(erased.status).toBe(200);
		expect([...(erased.body.run_ids as string[])].sort()).toEqual([...runIds].sort());
		const [left] = await stack.sql<{ identities: number; hashes: number }[]>`
			SELECT (SELECT count(*)::int FROM person_identities WHERE identity_hash = ANY(${hashes}::text[])) AS identities,
				(SELECT count(*)::int FROM runs WHERE run_id = ANY(${runIds}::uuid[]) AND email_hash IS NOT NULL) AS hashes`;
		expect(left).toEqual({ identities: 0, hashes: 0 });
	});

	test('50 concurrent leads of one person, different sources and keys: one CRM record, 49 duplicates', async () => {
		const who = person();
		const answers: Answer[] = await Promise.all(
			Array.from({ length: 50 }, (_, i) =>
				send(
					stack,
					validLead({
						email: i % 2 === 0 ? who.email : who.email.toUpperCase(),
						phone: i % 3 === 0 ? who.local : who.phone,
						name: `Jane ${i}`,
					}),
					`source-${i % 5}`,
				),
			),
		);
		const accepted = answers.filter((answer) => answer.body.status === 'accepted');
		const duplicates = answers.filter((answer) => answer.body.status === 'duplicate');
		expect(accepted).toHaveLength(1);
		expect(duplicates).toHaveLength(49);
		expect(new Set(duplicates.map((answer) => answer.body.duplicate_of))).toEqual(
			new Set([accepted[0]!.body.run_id]),
		);
		expect(await crmLeadsOf(stack, who.email.toLowerCase())).toHaveLength(1);
		const [counts] = await stack.sql<{ runs: number; identities: number }[]>`
			SELECT (SELECT count(*)::int FROM runs WHERE duplicate_of = ${String(accepted[0]!.body.run_id)}) AS runs,
				(SELECT count(*)::int FROM person_identities WHERE run_id = ${String(accepted[0]!.body.run_id)}) AS identities`;
		expect(counts).toEqual({ runs: 49, identities: 2 });
	});

	test("the window's edge: a second inside is a duplicate, a second outside is not", async () => {
		const who = person();
		const first = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-a');
		const firstRun = String(first.body.run_id);
		await stack.sql`UPDATE person_identities
			SET received_at = now() - interval '24 hours' + interval '5 seconds' WHERE run_id = ${firstRun}`;
		const inside = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-b');
		expect(inside.body).toMatchObject({ status: 'duplicate', duplicate_of: firstRun });

		await stack.sql`UPDATE person_identities
			SET received_at = now() - interval '24 hours' - interval '1 second' WHERE run_id = ${firstRun}`;
		const outside = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-c');
		expect(outside.body).toMatchObject({ status: 'accepted' });
		// the lead outside the window is the person's first again
		const later = await send(stack, validLead({ email: who.email, phone: who.phone }), 'site-d');
		expect(later.body).toMatchObject({ status: 'duplicate', duplicate_of: outside.body.run_id });
	});

	test('a rejected lead is not a person received; the same request again stays a repeat', async () => {
		const who = person();
		const rejected = await send(
			stack,
			validLead({ email: who.email, phone: who.phone, address: { zip: '10115' } }),
			'site-a',
		);
		expect(rejected.body).toMatchObject({ status: 'rejected' });
		const lead = validLead({ email: who.email, phone: who.phone });
		const first = await postLead(stack.url, lead, { key: `repeat-${who.phone}` });
		expect(first.body).toMatchObject({ status: 'accepted' });
		const repeat = await postLead(stack.url, lead, { key: `repeat-${who.phone}` });
		expect(repeat.body).toMatchObject({
			status: 'duplicate',
			run_id: first.body.run_id,
			existing_status: 'processed',
		});
	});

	test('the ledger balances and the KPIs count the same request and the same person apart', async () => {
		const day = new Date().toISOString().slice(0, 10);
		const kpi = await stack.internal('POST', '/internal/kpi/compute-daily', { date: day });
		expect(kpi.status).toBe(200);
		const row = kpi.body.row as Record<string, number>;
		const [runs] = await stack.sql<{ same: number }[]>`
			SELECT count(*)::int AS same FROM runs WHERE status = 'duplicate'`;
		expect(row.same_person_count).toBe(runs!.same);
		expect(row.same_person_count).toBeGreaterThanOrEqual(52);
		expect(row.duplicate_count).toBe(1);
		const from = new Date(Date.now() - 3_600_000).toISOString();
		const to = new Date(Date.now() + 60_000).toISOString();
		const ledger = await stack.internal('GET', `/internal/stats/ledger?from=${from}&to=${to}`);
		expect(ledger.body).toMatchObject({ same_person: runs!.same, duplicates: 1, balanced: true });
	});
});

describe('identity variants', () => {
	test('email: the same phone with another e-mail is another person', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, identity: 'email' } });
		try {
			const who = person();
			await send(stack, validLead({ email: who.email, phone: who.phone }), 'a');
			const other = await send(
				stack,
				validLead({ email: `x.${who.email}`, phone: who.phone }),
				'b',
			);
			expect(other.body).toMatchObject({ status: 'accepted' });
			const same = await send(stack, validLead({ email: who.email.toUpperCase() }), 'c');
			expect(same.body).toMatchObject({ status: 'duplicate', match: 'email' });
		} finally {
			await stack.close();
		}
	});

	test('phone: the default region reads national numbers; another e-mail does not matter', async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, identity: 'phone', default_phone_region: 'AT' },
		});
		try {
			const first = await send(stack, validLead({ phone: '+43 664 1234567' }), 'a');
			expect(first.body).toMatchObject({ status: 'accepted' });
			const national = await send(
				stack,
				validLead({ email: 'someone.else@example.com', phone: '0664 123 45 67' }),
				'b',
			);
			expect(national.body).toMatchObject({
				status: 'duplicate',
				duplicate_of: first.body.run_id,
				match: 'phone',
			});
			const sameEmailOtherPhone = await send(stack, validLead({ phone: '+49 170 7654321' }), 'c');
			expect(sameEmailOtherPhone.body).toMatchObject({ status: 'accepted' });
		} finally {
			await stack.close();
		}
	});

	test('payload: the same normalised lead is one, another name is another', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, identity: 'payload' } });
		try {
			const first = await send(stack, validLead(), 'a');
			const same = await send(
				stack,
				{ ...validLead(), email: 'jane.doe@example.com', name: ' Jane Doe ' },
				'b',
			);
			expect(same.body).toMatchObject({
				status: 'duplicate',
				duplicate_of: first.body.run_id,
				match: 'payload',
			});
			const other = await send(stack, validLead({ name: 'John Doe' }), 'c');
			expect(other.body).toMatchObject({ status: 'accepted' });
			// only salted hashes are stored
			const stored = await stack.sql<{ identity_hash: string }[]>`
				SELECT identity_hash FROM person_identities`;
			expect(stored.every((row) => /^[0-9a-f]{64}$/.test(row.identity_hash))).toBe(true);
		} finally {
			await stack.close();
		}
	});

	test("policy update: erasing the repeat asks the CRM to erase the record it updated (the first lead's key)", async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, policy: 'update' },
			env: { PRIVACY_CRM_ERASE_SECONDS: '1' },
		});
		try {
			const who = person();
			const work = `work.${who.email}`;
			await postLead(stack.url, validLead({ email: who.email, phone: who.phone }), {
				key: 'home-key',
			});
			const update = await postLead(stack.url, validLead({ email: work, phone: who.local }), {
				key: 'work-key',
			});
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			expect((await stack.crm.leads()).map((lead) => lead.key)).toEqual(['home-key']);

			const erased = await stack.internal('POST', '/internal/privacy/erase', { email: work });
			expect(erased.body.run_ids).toEqual([update.body.run_id]);
			await waitFor(
				async () => {
					stack.clock.advance(600); // past the wait for leads in flight
					return (await stack.crm.leads()).length;
				},
				{ what: 'the updated CRM record erased', until: (left) => left === 0 },
			);
		} finally {
			await stack.close();
		}
	});

	test('policy update: the same person is sent as an update of the first record', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'first-key',
			});
			const update = await postLead(
				stack.url,
				validLead({ email: who.email.toLowerCase(), name: 'Jane Doe-Smith' }),
				{ key: 'second-key' },
			);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			expect(await runOf(stack, update.body.run_id)).toMatchObject({
				status: 'processed',
				duplicate_of: first.body.run_id,
				duplicate_match: 'email',
			});
			// as an operator reads it (GET /internal/runs/{id}, the Lead Intake node's Get Run)
			const read = await stack.internal('GET', `/internal/runs/${update.body.run_id as string}`);
			expect(read.body.run).toMatchObject({
				duplicate_of: first.body.run_id,
				duplicate_match: 'email',
			});
			expect(answers.RunHistory.safeParse(read.body).success).toBe(true);
			const leads = await stack.crm.leads();
			expect(leads.map((lead) => ({ key: lead.key, upserts: lead.upserts }))).toEqual([
				{ key: 'first-key', upserts: 2 },
			]);

			// an update the CRM fails is retried from the DLQ as the same update, not as a new record
			await stack.crm.fail(1, 503);
			const failed = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Doe-Smith-Jones' }),
				{ key: 'third-key' },
			);
			expect(failed.status).toBe(500);
			stack.clock.advance(3600);
			// retry-due, or the processor's own retry loop, whichever comes first
			await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					const [run] = await stack.sql`
						SELECT status FROM runs WHERE run_id = ${String(failed.body.run_id)}`;
					return run!.status as string;
				},
				{
					what: 'the failed update delivered from the DLQ',
					until: (status) => status === 'processed',
				},
			);
			const after = await stack.crm.leads();
			expect(after.map((lead) => ({ key: lead.key, upserts: lead.upserts }))).toEqual([
				{ key: 'first-key', upserts: 3 },
			]);
		} finally {
			await stack.close();
		}
	});

	/** The mock CRM answers the next call for `key` after `latencyMs`. */
	const slowFirstCall = (stack: Stack, key: string, latencyMs: number) =>
		fetch(`${stack.crm.url}/admin/faults`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ fail_next: 0, status: 503, latency_ms: latencyMs, slow_next: 1, key }),
		});

	/**
	 * Sends the person's first lead, slowed at the CRM, and waits until it is on its way there;
	 * `answer` is its request's answer, still to come.
	 */
	async function firstLeadOnItsWay(stack: Stack, email: string, key: string, latencyMs: number) {
		await slowFirstCall(stack, key, latencyMs);
		const answer = postLead(stack.url, validLead({ email }), { key });
		await waitFor(
			() => stack.sql`SELECT 1 FROM runs WHERE idempotency_key = ${key} AND status = 'accepted'`,
			{ what: 'the first lead on its way to the CRM', until: (rows) => rows.length === 1 },
		);
		return { answer };
	}

	test('policy update, answered on delivery: an update sent while the first lead is on its way to the CRM reaches it after that lead, so the CRM keeps the newer details', async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, policy: 'update' },
			// the default: an update waits up to 4 s for its turn
			env: { CRM_TIMEOUT_MS: '5000' },
		});
		try {
			const who = person();
			const first = await firstLeadOnItsWay(stack, who.email, 'turn-first', 2000);
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'turn-second' },
			);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			expect((await first.answer).body).toMatchObject({
				status: 'accepted',
				run_status: 'processed',
			});
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'turn-first', upserts: 2 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
		} finally {
			await stack.close();
		}
	});

	test('policy update, answered on delivery: an update whose first lead is still on its way when its wait runs out is queued behind it (202) and delivered after it', async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, policy: 'update' },
			// a CRM call and its write take 11 s of the 12 s lease: an update waits 1 s for its turn
			env: { CRM_TIMEOUT_MS: '5000', ACCEPTED_LEASE_SECONDS: '12' },
		});
		try {
			const who = person();
			const first = await firstLeadOnItsWay(stack, who.email, 'queued-first', 3000);
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'queued-second' },
			);
			expect(update.status).toBe(202);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'queued' });
			// it did not ask to be answered on store
			expect(update.headers.get('preference-applied')).toBeNull();
			expect((await first.answer).body).toMatchObject({
				status: 'accepted',
				run_status: 'processed',
			});
			await waitFor(() => runOf(stack, update.body.run_id), {
				what: 'the queued update delivered after the first lead',
				until: (run) => run?.status === 'processed',
			});
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'queued-first', upserts: 2 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
		} finally {
			await stack.close();
		}
	});

	test('policy update, answered on delivery: an update sent while a retry of the first lead is under way waits in the queue until that retry is settled', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			await stack.crm.fail(1, 503);
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'retried-first',
			});
			expect(first.status).toBe(500);
			// another processor's retry of it holds the item, its CRM call under way
			await stack.sql`
				UPDATE dlq SET status = 'retrying', locked_until = ${new Date(stack.clock.now.getTime() + 3_600_000)},
					lease_token = ${randomUUID()}
				WHERE run_id = ${String(first.body.run_id)}`;
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'retried-second' },
			);
			expect(update.status).toBe(202);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'queued' });
			expect(await runOf(stack, update.body.run_id)).toMatchObject({ status: 'queued' });
			expect(await stack.crm.leads()).toEqual([]);
		} finally {
			await stack.close();
		}
	});

	test('policy update: a first lead that failed is not sent again once its update reached the CRM, which keeps the newer details', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			await stack.crm.fail(1, 503);
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'older-key',
			});
			expect(first.status).toBe(500);
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'newer-key' },
			);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'processed' });

			stack.clock.advance(3600);
			const item = await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					const [row] = await stack.sql<{ status: string; superseded_by: string | null }[]>`
						SELECT status, superseded_by FROM dlq WHERE run_id = ${String(first.body.run_id)}`;
					return row!;
				},
				{ what: 'the first lead settled from the DLQ', until: (row) => row.status === 'resolved' },
			);
			// the CRM has the update's details, written once: the older lead was not sent over them
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'older-key', upserts: 1 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
			expect(item.superseded_by).toBe(update.body.run_id);
			const [run] = await stack.sql`
				SELECT status, sealed_lead FROM runs WHERE run_id = ${String(first.body.run_id)}`;
			expect(run).toEqual({ status: 'failed', sealed_lead: null });
			const events = await stack.sql<{ data: { by: string } }[]>`
				SELECT data FROM outcome_events
				WHERE run_id = ${String(first.body.run_id)} AND event_type = 'lead.resolved'`;
			expect(events.map((event) => event.data.by)).toEqual(['superseded']);
		} finally {
			await stack.close();
		}
	});

	test('policy update: an update whose person was erased since does not keep the first lead from the CRM', async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, policy: 'update' },
			env: { PRIVACY_CRM_ERASE_SECONDS: '1' },
		});
		try {
			const who = person();
			await stack.crm.fail(1, 503);
			const first = await postLead(stack.url, validLead({ email: who.email, phone: who.phone }), {
				key: 'kept-first',
			});
			expect(first.status).toBe(500);
			// another e-mail, the same phone: an update of the first record
			const update = await postLead(
				stack.url,
				validLead({ email: `work.${who.email}`, phone: who.local }),
				{ key: 'erased-update' },
			);
			expect(update.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			const erased = await stack.internal('POST', '/internal/privacy/erase', {
				email: `work.${who.email}`,
			});
			expect(erased.body.run_ids).toEqual([update.body.run_id]);
			await waitFor(
				async () => {
					stack.clock.advance(600);
					return (await stack.crm.leads()).length;
				},
				{ what: 'the updated CRM record erased', until: (left) => left === 0 },
			);

			// the first lead's own person was not erased: its retry delivers it
			stack.clock.advance(3600);
			await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					const [run] = await stack.sql<{ status: string }[]>`
						SELECT status FROM runs WHERE run_id = ${String(first.body.run_id)}`;
					return run!.status;
				},
				{
					what: 'the first lead delivered from the DLQ',
					until: (status) => status === 'processed',
				},
			);
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'kept-first' });
			expect(record!.payload.run_id).toBe(first.body.run_id);
		} finally {
			await stack.close();
		}
	});

	test("policy update: a repeat still to be delivered when its first run's person is erased goes to the CRM under its own key, which its own erasure can name", async () => {
		const stack = await startStack({
			duplicates: { window_hours: 24, policy: 'update' },
			env: { PRIVACY_CRM_ERASE_SECONDS: '1' },
		});
		try {
			const who = person();
			await postLead(stack.url, validLead({ email: who.email, phone: who.phone }), {
				key: 'household-first',
			});
			// someone else on the same phone: an update of the first record, which fails for now
			await stack.crm.fail(1, 503);
			const other = `housemate.${who.email}`;
			const repeat = await postLead(stack.url, validLead({ email: other, phone: who.local }), {
				key: 'household-second',
			});
			expect(repeat.status).toBe(500);
			expect(await runOf(stack, repeat.body.run_id)).toMatchObject({ duplicate_match: 'phone' });
			// the first person is erased by e-mail: the housemate's lead is not theirs
			const erased = await stack.internal('POST', '/internal/privacy/erase', { email: who.email });
			expect(erased.body.run_ids).not.toContain(repeat.body.run_id);

			stack.clock.advance(3600);
			await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					return (await runOf(stack, repeat.body.run_id)).status;
				},
				{ what: 'the repeat delivered from the DLQ', until: (status) => status === 'processed' },
			);
			const record = (await stack.crm.leads()).find(
				(lead) => lead.payload.run_id === repeat.body.run_id,
			);
			expect(record).toMatchObject({ key: 'household-second' });

			// and the housemate's own erasure reaches that record
			const second = await stack.internal('POST', '/internal/privacy/erase', { email: other });
			expect(second.body).toMatchObject({ crm: { status: 'pending' } });
			await waitFor(
				async () => {
					stack.clock.advance(600);
					return (await stack.crm.leads()).map((lead) => lead.key);
				},
				{
					what: "the housemate's CRM record erased",
					until: (keys) => !keys.includes('household-second'),
				},
			);
		} finally {
			await stack.close();
		}
	});

	test("policy update: a housemate's lead waiting in the DLQ is delivered under its own key once the first lead's person was erased, not closed as superseded", async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			// one phone, two people: the first lead is Alice's, the later two Bob's (matched by phone)
			const alice = person();
			const bob = { ...person(), phone: alice.phone };
			const first = await postLead(
				stack.url,
				validLead({ email: alice.email, phone: alice.phone }),
				{ key: 'house-alice' },
			);
			expect(first.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			await stack.crm.fail(1, 503);
			const waiting = await postLead(stack.url, validLead({ email: bob.email, phone: bob.phone }), {
				key: 'house-bob-1',
			});
			expect(waiting.status).toBe(500);
			const newer = await postLead(
				stack.url,
				validLead({ email: bob.email, phone: bob.phone, name: 'Bob Newer' }),
				{ key: 'house-bob-2' },
			);
			expect(newer.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
			// Alice is erased: her record (which Bob's newer lead updated) goes; Bob's runs stay
			const erased = await stack.internal('POST', '/internal/privacy/erase', {
				email: alice.email,
			});
			expect(erased.body).toMatchObject({ run_ids: [first.body.run_id] });

			stack.clock.advance(3600);
			const item = await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					const [row] = await stack.sql<{ status: string; superseded_by: string | null }[]>`
						SELECT status, superseded_by FROM dlq WHERE run_id = ${String(waiting.body.run_id)}`;
					return row!;
				},
				{ what: "Bob's waiting lead settled", until: (row) => row.status === 'resolved' },
			);
			expect(item.superseded_by).toBeNull();
			const keys = (await stack.crm.leads()).map((lead) => lead.key);
			expect(keys).toContain('house-bob-1');
		} finally {
			await stack.close();
		}
	});

	test('policy update: a replay of a first lead and its update, both dead, sends the update only; the next replay finds the first superseded', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			// a mapping the CRM refuses: both dead at once
			await stack.crm.fail(2, 400);
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'replay-older',
			});
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'replay-newer' },
			);
			expect([first.status, update.status]).toEqual([500, 500]);
			const replay = () =>
				stack.internal('POST', '/internal/dlq/replay', { reason: 'crm_http_400' });
			const once = await replay();
			expect(once.body).toMatchObject({ matched: 1, claimed: 1 });
			const again = await replay();
			expect(again.body).toMatchObject({ matched: 1, claimed: 1, resolved: 1 });
			expect((await replay()).body).toMatchObject({ matched: 0 });
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'replay-older', upserts: 1 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
			const [older] = await stack.sql`
				SELECT status, superseded_by FROM dlq WHERE run_id = ${String(first.body.run_id)}`;
			expect(older).toEqual({ status: 'resolved', superseded_by: update.body.run_id });
		} finally {
			await stack.close();
		}
	});

	test("policy update: an operator's retry of a first lead whose update waits in the DLQ too is refused until the update is in; then the first is found superseded", async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			await stack.crm.fail(2, 503);
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'retry-older',
			});
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'retry-newer' },
			);
			expect([first.status, update.status]).toEqual([500, 500]);
			const retry = (dlqId: unknown) =>
				stack.internal('POST', `/internal/dlq/${String(dlqId)}/retry`, {});
			const early = await retry(first.body.dlq_id);
			expect(early.status).toBe(409);
			expect(String(early.body.detail)).toContain('waits for a newer lead of its CRM record');
			expect(await stack.crm.leads()).toEqual([]);
			expect((await retry(update.body.dlq_id)).body).toMatchObject({ outcome: 'resolved' });
			expect((await retry(first.body.dlq_id)).body).toMatchObject({ outcome: 'resolved' });
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'retry-older', upserts: 1 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
		} finally {
			await stack.close();
		}
	});

	test('policy update: when the first lead and its update both wait in the DLQ, the update is retried first and the first is not sent over it', async () => {
		const stack = await startStack({ duplicates: { window_hours: 24, policy: 'update' } });
		try {
			const who = person();
			await stack.crm.fail(2, 503);
			const first = await postLead(stack.url, validLead({ email: who.email }), {
				key: 'both-older',
			});
			const update = await postLead(
				stack.url,
				validLead({ email: who.email, name: 'Jane Newer-Name' }),
				{ key: 'both-newer' },
			);
			expect([first.status, update.status]).toEqual([500, 500]);

			// both due at once: a retry pass takes the update, and the first once the update is in
			stack.clock.advance(3600);
			await waitFor(
				async () => {
					await stack.internal('POST', '/internal/dlq/retry-due', {});
					return await stack.sql<{ status: string }[]>`
						SELECT d.status FROM dlq d
						WHERE d.run_id IN ${stack.sql([String(first.body.run_id), String(update.body.run_id)])}`;
				},
				{
					what: 'both DLQ items settled',
					until: (items) => items.every((item) => item.status === 'resolved'),
				},
			);
			const [record] = await stack.crm.leads();
			expect(record).toMatchObject({ key: 'both-older', upserts: 1 });
			expect(record!.payload.run_id).toBe(update.body.run_id);
			const [older] = await stack.sql`
				SELECT superseded_by FROM dlq WHERE run_id = ${String(first.body.run_id)}`;
			expect(older).toEqual({ superseded_by: update.body.run_id });
			// the ledger counts it apart: not delivered, not lost, not closed by hand
			const day = 86_400_000;
			const from = new Date(stack.clock.now.getTime() - day).toISOString();
			const to = new Date(stack.clock.now.getTime() + day).toISOString();
			const ledger = await stack.internal('GET', `/internal/stats/ledger?from=${from}&to=${to}`);
			expect(ledger.body).toMatchObject({ superseded: 1, resolved_manually: 0, balanced: true });
		} finally {
			await stack.close();
		}
	});
});
