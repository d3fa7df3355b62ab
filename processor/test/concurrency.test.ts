import { postLead, startStack, validLead, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack();
});
afterAll(() => stack.close());

test('50 concurrent requests with one key: exactly one run, one lead_received, one CRM upsert', async () => {
	const key = 'concurrent-key-1';
	const answers = await Promise.all(Array.from({ length: 50 }, () => postLead(stack.url, validLead(), { key })));

	expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
	const runIds = new Set(answers.map((answer) => answer.body.run_id));
	expect(runIds.size).toBe(1);
	const statuses = answers.map((answer) => answer.body.status);
	expect(statuses.filter((status) => status === 'accepted')).toHaveLength(1);
	expect(statuses.filter((status) => status === 'duplicate')).toHaveLength(49);

	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = ${key}`).toHaveLength(1);
	const [received] = await stack.sql`
		SELECT count(*)::int AS n FROM audit_events a JOIN runs r USING (run_id)
		WHERE r.idempotency_key = ${key} AND a.event_type = 'lead_received'`;
	expect(received!.n).toBe(1);
	const crmLeads = (await stack.crm.leads()).filter((lead) => lead.key === key);
	expect(crmLeads).toEqual([expect.objectContaining({ upserts: 1 })]);
});

test('concurrent requests with different keys each get their own run', async () => {
	const answers = await Promise.all(
		Array.from({ length: 40 }, (_, i) => postLead(stack.url, validLead(), { key: `parallel-${i}` })),
	);
	expect(new Set(answers.map((answer) => answer.body.run_id)).size).toBe(40);
	expect(answers.every((answer) => answer.body.status === 'accepted')).toBe(true);
});
