import { postLead, startStack, validLead, type Stack } from './support/harness.js';

const PROBE = 'Pii.Probe+scan@Example.org';
const PLAIN = [PROBE, PROBE.toLowerCase(), 'pii.probe+scan@example.org'.toUpperCase()];

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({ env: { CRM_TIMEOUT_MS: '300' } });
	const lead = (extra = {}) =>
		validLead({ email: PROBE, note: `reach me at ${PROBE}`, extra_contact: PROBE, ...extra });
	// every path a lead can take: processed, duplicate, rejected, forced failure, CRM 503, CRM 400,
	// invalid payload, bad signature
	await postLead(stack.url, lead(), { key: 'pii-processed' });
	await postLead(stack.url, lead(), { key: 'pii-processed' });
	await postLead(stack.url, lead({ address: { zip: '10115' } }), { key: 'pii-rejected' });
	await postLead(stack.url, lead(), { key: 'pii-forced', headers: { 'x-fail-after-accept': '1' } });
	await stack.crm.fail(1, 503);
	await postLead(stack.url, lead(), { key: 'pii-503' });
	await stack.crm.fail(1, 400);
	await postLead(stack.url, lead(), { key: 'pii-400' });
	await postLead(stack.url, { email: 42, contact: PROBE }, { key: 'pii-invalid' });
	await postLead(stack.url, lead(), {
		secret: 'wrong-secret-0123456789',
		headers: { 'x-source': 'pii-scan' },
	});
});
afterAll(() => stack.close());

test('no table holds the email in plain text', async () => {
	const tables = await stack.sql<{ table_name: string }[]>`
		SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`;
	expect(tables.length).toBeGreaterThanOrEqual(6);
	for (const { table_name: table } of tables) {
		const rows = await stack.sql.unsafe(`SELECT t::text AS row FROM ${table} t`);
		const text = rows
			.map((row) => row.row as string)
			.join('\n')
			.toLowerCase();
		expect({ table, leaks: PLAIN.some((email) => text.includes(email.toLowerCase())) }).toEqual({
			table,
			leaks: false,
		});
	}
	const [masked] =
		await stack.sql`SELECT email_masked FROM runs WHERE idempotency_key = 'pii-processed'`;
	expect(masked!.email_masked).toBe('p***@example.org');
});

test('the scan would see a leak: the CRM (which is meant to receive it) does hold the email', async () => {
	const crm = JSON.stringify(await stack.crm.leads());
	expect(crm).toContain('pii.probe+scan@example.org');
});

test('no log line holds the email', () => {
	expect(stack.logs.length).toBeGreaterThan(8);
	const leaking = stack.logs.filter((line) =>
		PLAIN.some((email) => line.toLowerCase().includes(email.toLowerCase())),
	);
	expect(leaking).toEqual([]);
});
