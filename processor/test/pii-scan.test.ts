import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { postLead, startStack, type SignedPostOptions, type Stack } from './support/harness.js';

/*
 * Personal data sent in every way a lead source could send it must never be stored, logged or
 * written to a file in plain text: the four kinds (e-mail, name, phone, street) under the common
 * keys and under unusual ones, and an e-mail as X-Source, as idempotency key and as a JSON key.
 * Distinctive probe values make any copy findable; the CRM (meant to receive them) proves that
 * the scan would find them.
 */

const EMAIL = 'Xaverine.Quorndorf@Example.org';
const FIRST = 'Xaverine';
const LAST = 'Quorndorf';
const NAME = `${FIRST} ${LAST}`;
const PHONE = '+49 151 7445 5236';
const STREET = 'Quokkaweg 77';
const LOCAL_EMAIL = 'xaverine.quorndorf@localhost';

/** What a leak of each kind looks like in any text (compared without case). */
const LEAKS: Record<'email' | 'name' | 'phone' | 'street', (text: string) => boolean> = {
	email: (text) => text.includes('xaverine.quorndorf@example.org'),
	// either half of the name (a masked name keeps its first letter only)
	name: (text) => text.includes('xaverine') || text.includes('quorndorf'),
	// the number in any spelling: spaces, dashes, slashes, brackets, a leading + or 0
	phone: (text) => text.replace(/[\s\-/().+]/g, '').includes('15174455236'),
	street: (text) => text.includes('quokkaweg'),
};

function leaksIn(text: string): string[] {
	const lower = text.toLowerCase();
	return Object.entries(LEAKS)
		.filter(([, found]) => found(lower))
		.map(([kind]) => kind);
}

/** The probes under the keys lead sources use, under unusual keys, and an e-mail as a key. */
function probeLead(overrides: Record<string, unknown> = {}): Record<string, unknown> {
	return {
		email: EMAIL,
		name: NAME,
		phone: PHONE,
		address: { zip: '66123', street: STREET, address_line_1: STREET },
		house: { is_owner: true },
		first_name: FIRST,
		last_name: LAST,
		full_name: NAME,
		mobile_phone: PHONE.replace(/\s/g, ''),
		address_line_1: STREET,
		contact: { 'E-Mail': EMAIL, Telefon: PHONE, Vorname: FIRST },
		note: `call ${NAME} on ${PHONE} or write to ${EMAIL}`,
		extra_contact: EMAIL,
		[EMAIL.toLowerCase()]: 'opted in',
		// keys no list of personal keys names, and an address whose domain has no dot
		nick: FIRST,
		owner: NAME,
		kontakt: `${NAME}, ${PHONE}`,
		person: { given: FIRST, family: LAST },
		source: `web form of ${LOCAL_EMAIL}`,
		...overrides,
	};
}

/** An e-mail as the source name and as the idempotency key (webhook-id, or X-Idempotency-Key in v1). */
function probeRequest(path: string, extra: SignedPostOptions = {}): SignedPostOptions {
	return {
		...extra,
		key: `${path}:${EMAIL}`,
		headers: { 'x-source': EMAIL, 'user-agent': `probe of ${NAME} ${EMAIL}`, ...extra.headers },
	};
}

let stack: Stack;
const answers: Record<string, number> = {};
beforeAll(async () => {
	stack = await startStack({ env: { CRM_TIMEOUT_MS: '300' } });
	const send = async (path: string, lead: unknown, extra: SignedPostOptions = {}) => {
		answers[path] = (await postLead(stack.url, lead, probeRequest(path, extra))).status;
	};
	// every path a lead can take: processed, duplicate, rejected, forced failure, CRM 503 (then
	// retried and delivered), CRM 400, invalid payload, bad signature, legacy signature
	await send('processed', probeLead());
	await send('processed', probeLead());
	await send('legacy', probeLead(), { scheme: 'v1' });
	await send('rejected', probeLead({ address: { zip: '10115', street: STREET } }));
	await send('forced', probeLead(), { headers: { 'x-fail-after-accept': '1' } });
	await stack.crm.fail(1, 503);
	await send('crm-503', probeLead());
	await stack.crm.fail(1, 400);
	await send('crm-400', probeLead());
	await send('invalid', { email: 42, contact: EMAIL, full_name: NAME, mobile: PHONE });
	await send('bad-signature', probeLead(), { secret: 'wrong-secret-0123456789' });
	await stack.processor.flush();

	// what operators do with such runs: look one up by its key, retry the DLQ, compute the KPIs
	for (const key of [`processed:${EMAIL}`, encodeURIComponent(`processed:${EMAIL}`)]) {
		answers[`by-key ${key}`] = (await stack.internal('GET', `/internal/runs/by-key/${key}`)).status;
	}
	const today = stack.clock.now.toISOString().slice(0, 10);
	stack.clock.advance(3600);
	answers['retry-due'] = (await stack.internal('POST', '/internal/dlq/retry-due', {})).status;
	answers['compute-daily'] = (
		await stack.internal('POST', '/internal/kpi/compute-daily', { date: today })
	).status;
});
afterAll(() => stack.close());

test('every path was taken', () => {
	expect(answers).toEqual({
		processed: 200,
		legacy: 200,
		rejected: 200,
		forced: 500,
		'crm-503': 500,
		'crm-400': 500,
		invalid: 422,
		'bad-signature': 401,
		[`by-key processed:${EMAIL}`]: 200,
		[`by-key ${encodeURIComponent(`processed:${EMAIL}`)}`]: 200,
		'retry-due': 200,
		'compute-daily': 200,
	});
});

test('no table holds any of the four in plain text', async () => {
	const tables = await stack.sql<{ table_name: string }[]>`
		SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`;
	expect(tables.length).toBeGreaterThanOrEqual(6);
	const leaks: Record<string, string[]> = {};
	for (const { table_name: table } of tables) {
		const rows = await stack.sql.unsafe(`SELECT t::text AS row FROM ${table} t`);
		leaks[table] = leaksIn(rows.map((row) => row.row as string).join('\n'));
	}
	expect(leaks).toEqual(Object.fromEntries(tables.map(({ table_name: table }) => [table, []])));
});

test('what was stored is there, masked (the scan is not looking at empty tables)', async () => {
	const [run] = await stack.sql`
		SELECT r.email_masked, r.source, r.idempotency_key, e.payload
		FROM runs r JOIN audit_events e ON e.run_id = r.run_id AND e.event_type = 'lead_received'
		WHERE r.status = 'processed' ORDER BY r.received_at LIMIT 1`;
	expect(run).toMatchObject({
		email_masked: 'x***@example.org',
		source: 'X***@Example.org',
		idempotency_key: expect.stringMatching(/^pii-[0-9a-f]{40}$/),
	});
	expect(run!.payload.lead).toMatchObject({
		email: 'x***@example.org',
		name: 'X***',
		first_name: 'X***',
		last_name: 'Q***',
		full_name: 'X***',
		phone: '***36',
		mobile_phone: '***36',
		address_line_1: '***',
		contact: { 'E-Mail': 'X***@Example.org', Telefon: '***36', Vorname: 'X***' },
		extra_contact: '***',
		'x***@example.org': '***',
		nick: '***',
		owner: '***',
		kontakt: '***',
		person: { given: '***', family: '***' },
		source: 'web form of x***@localhost',
		address: { zip: '66123', street: '***', address_line_1: '***' },
		house: { is_owner: true },
	});
	const dlq = await stack.sql`SELECT reason FROM dlq ORDER BY dlq_id`;
	expect(dlq.map((row) => row.reason)).toEqual(
		expect.arrayContaining(['forced_failure_after_accept', 'crm_http_503', 'signature_invalid']),
	);
});

test('no log line holds any of the four', () => {
	expect(stack.logs.length).toBeGreaterThan(12);
	const leaking = stack.logs.filter((line) => leaksIn(line).length > 0);
	expect(leaking).toEqual([]);
});

test('no file the processor wrote into its alerts directory holds any of the four', async () => {
	const files = await readdir(stack.alertsDir, { recursive: true, withFileTypes: true });
	const written = files.filter((entry) => entry.isFile());
	expect(written.length).toBeGreaterThanOrEqual(2); // the KPI report and its CSV
	const leaks: Record<string, string[]> = {};
	for (const file of written) {
		leaks[file.name] = leaksIn(await readFile(join(file.parentPath, file.name), 'utf8'));
	}
	expect(leaks).toEqual(Object.fromEntries(written.map((file) => [file.name, []])));
});

test('the scan would see a leak: the CRM (which is meant to receive them) holds all four', async () => {
	expect(leaksIn(JSON.stringify(await stack.crm.leads())).sort()).toEqual([
		'email',
		'name',
		'phone',
		'street',
	]);
});
