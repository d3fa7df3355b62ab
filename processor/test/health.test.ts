import { waitFor } from '@lead-intake-hub/stack';
import { postLead, startStack, testDatabase, validLead, type Stack } from './support/harness.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

let proxy: TcpProxy;
let stack: Stack;
let database: Awaited<ReturnType<typeof testDatabase>>;

beforeAll(async () => {
	database = await testDatabase();
	const target = new URL(database.url);
	proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
	const viaProxy = new URL(database.url);
	viaProxy.host = `127.0.0.1:${proxy.port}`;
	// no timer of its own talks to the database: every statement is one of a test's requests
	stack = await startStack({ databaseUrl: viaProxy.toString(), env: { ALERTS_PASS_SECONDS: '0' } });
});
afterAll(async () => {
	await stack.close();
	await proxy.close();
	await database.drop();
});

const health = async () => {
	const response = await fetch(`${stack.url}/health`);
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test('GET /health answers 200 and audits a health_check by the system actor', async () => {
	const answer = await health();
	expect(answer).toEqual({ status: 200, body: { status: 'ok', database: 'up' } });
	const [event] = await stack.sql`
		SELECT actor, run_id, payload FROM audit_events WHERE event_type = 'health_check' ORDER BY event_id DESC LIMIT 1`;
	expect(event).toMatchObject({ actor: 'system', run_id: null, payload: { check: 'health' } });
});

test('while Postgres is unreachable: 503 from /health and intake, the process stays up, then recovers', async () => {
	await proxy.cut();
	const down = await health();
	expect(down.status).toBe(503);
	expect(down.body).toMatchObject({ status: 'unavailable', database: 'down' });

	const intake = await fetch(`${stack.url}/webhook/lead`, { method: 'POST', body: '{}' });
	expect(intake.status).toBe(401); // the signature is checked before the database is needed

	await proxy.restore();
	expect(await health()).toEqual({ status: 200, body: { status: 'ok', database: 'up' } });
});

test('an unknown route answers JSON 404', async () => {
	const response = await fetch(`${stack.url}/nope`);
	expect(response.status).toBe(404);
	expect(await response.json()).toMatchObject({
		code: 'not_found',
		correlation_id: expect.any(String),
	});
});

test('connections cut while many writes are in flight: the process stays up and nothing is half written', async () => {
	await stack.crm.fail(1_000_000, 503);
	const ledger = async () =>
		(await stack.internal('GET', '/internal/stats/ledger')).body as Record<
			string,
			number | boolean
		>;
	// armed before the requests start: the first statement any of them sends is cut off
	const cut = proxy.cutAtNextStatement();
	const inFlight = [
		...Array.from({ length: 30 }, (_, index) =>
			postLead(stack.url, validLead(), { key: `cut-${index}` }).catch(() => null),
		),
		...Array.from({ length: 5 }, () =>
			stack.internal('POST', '/internal/dlq/retry-due', {}).catch(() => null),
		),
	];
	await cut;
	await Promise.all(inFlight);
	await proxy.restore();
	await waitFor(health, {
		what: '/health to answer 200 once the connections are back',
		until: (answer) => answer.status === 200,
	});
	await stack.crm.fail(0);
	// every lead is in exactly one state: no failed run without its DLQ item
	expect(await ledger()).toMatchObject({ unaccounted: 0 });
	expect((await postLead(stack.url, validLead(), { key: 'after-cut' })).status).toBe(200);
});
