import { startMockCrm } from '@lead-intake-hub/mocks';
import { waitFor } from '@lead-intake-hub/stack';
import {
	postLead,
	startStack,
	testDatabase,
	TEST_SECRET,
	TEST_SERVICE_TOKEN,
	validLead,
	type Stack,
} from './support/harness.js';
import { startProcessorProcess } from './support/processes.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

let stack: Stack;
let database: Awaited<ReturnType<typeof testDatabase>>;

beforeAll(async () => {
	database = await testDatabase();
	stack = await startStack({ databaseUrl: database.url });
});
afterAll(async () => {
	await stack.close();
	await database.drop();
});

/** The test database's URL through a proxy. */
function through(tcpProxy: TcpProxy): string {
	const url = new URL(database.url);
	url.host = `127.0.0.1:${tcpProxy.port}`;
	return url.toString();
}

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

/**
 * A real processor process whose database is reached through a proxy of its own. The tests that
 * take the database away do it to a process, never to this file's in-process stack: under jest,
 * a connection of that stack lost while it is being set up is postgres.js's unhandled rejection
 * (main.ts survives it in a real process), which would fail the whole file.
 */
async function processorBehindItsOwnProxy(env: Record<string, string> = {}) {
	const crm = await startMockCrm({ token: 'cut-crm-token' });
	const target = new URL(database.url);
	const ownProxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
	const processor = await startProcessorProcess({
		DATABASE_URL: through(ownProxy),
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'cut-salt-0123',
		LEAD_ENCRYPTION_KEY: 'cut-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		CRM_URL: `${crm.url}/leads/upsert`,
		CRM_TOKEN: 'cut-crm-token',
		...env,
	});
	return {
		crm,
		proxy: ownProxy,
		processor,
		async close() {
			await processor.kill('SIGKILL');
			await crm.close();
			await ownProxy.close();
		},
	};
}

test('while Postgres is unreachable: 503 from /health and intake, the process stays up, then recovers', async () => {
	const own = await processorBehindItsOwnProxy();
	const healthOf = async () => {
		const response = await fetch(`${own.processor.url}/health`);
		return { status: response.status, body: (await response.json()) as Record<string, unknown> };
	};
	try {
		expect(await healthOf()).toEqual({ status: 200, body: { status: 'ok', database: 'up' } });
		await own.proxy.cut();
		const down = await healthOf();
		expect(down.status).toBe(503);
		expect(down.body).toMatchObject({ status: 'unavailable', database: 'down' });

		const intake = await fetch(`${own.processor.url}/webhook/lead`, { method: 'POST', body: '{}' });
		expect(intake.status).toBe(401); // the signature is checked before the database is needed

		await own.proxy.restore();
		expect(
			await waitFor(healthOf, {
				what: '/health to answer 200 once the database is back',
				until: (answer) => answer.status === 200,
			}),
		).toEqual({ status: 200, body: { status: 'ok', database: 'up' } });
		expect(own.processor.child.exitCode).toBeNull();
	} finally {
		await own.close();
	}
});

test('an unknown route answers JSON 404', async () => {
	const response = await fetch(`${stack.url}/nope`);
	expect(response.status).toBe(404);
	expect(await response.json()).toMatchObject({
		code: 'not_found',
		correlation_id: expect.any(String),
	});
});

/*
 * A real processor process: only a process shows that it stays up (in jest, an error nothing
 * handles fails the test file instead of ending a process).
 */
/** A lead of a person of its own: none is the same person as another. */
const distinctPerson = (tag: string, index: number) =>
	validLead({
		email: `cut.${tag}.${index}@example.com`,
		phone: `+49 17${tag === 'on' ? 1 : 0} ${String(5_550_000 + index)}`,
	});

/** The same-person check on: its statement is one more on every lead (migration 0012). */
async function samePersonCheckOn(): Promise<void> {
	const current = await stack.internal('GET', '/internal/rules');
	const document = current.body.document as { duplicates: Record<string, unknown> };
	const saved = await stack.internal('PUT', '/internal/rules', {
		document: { ...document, duplicates: { ...document.duplicates, window_hours: 24 } },
		note: 'health test: the same-person check on',
	});
	expect(saved.status).toBe(200);
}

test.each([
	['off', async () => undefined],
	['on', samePersonCheckOn],
])(
	'connections cut while many writes are in flight, the same-person check %s: the process stays up and nothing is half written',
	async (check, prepare) => {
		await prepare();
		const own = await processorBehindItsOwnProxy({
			// no timer of its own talks to the database: every statement is one of the requests'
			ALERTS_PASS_SECONDS: '0',
			// the CRM fails on purpose; the breaker is another test's subject
			CRM_BREAKER_FAILURES: '1000000',
		});
		const { crm, processor, proxy: cutProxy } = own;
		const internal = (path: string) =>
			fetch(`${processor.url}${path}`, {
				method: path.endsWith('retry-due') ? 'POST' : 'GET',
				headers: {
					authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
					'content-type': 'application/json',
				},
				body: path.endsWith('retry-due') ? '{}' : undefined,
			});
		const faults = (failNext: number) =>
			fetch(`${crm.url}/admin/faults`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ fail_next: failNext, status: 503 }),
			});
		try {
			await faults(1_000_000);
			// armed before the requests start; they send about 60 statements in all (inserts, CRM
			// failures written with their DLQ items, retry-due claims): cut a third of the way in
			const cut = cutProxy.cutAtStatement(20);
			const finished = Promise.all([
				...Array.from({ length: 30 }, (_, index) =>
					postLead(processor.url, distinctPerson(check, index), {
						key: `cut-${check}-${index}`,
					}).catch(() => null),
				),
				...Array.from({ length: 5 }, () => internal('/internal/dlq/retry-due').catch(() => null)),
			]);
			await Promise.race([
				cut,
				finished.then(() => {
					throw new Error(
						'every request was answered before their 20th statement: nothing was cut',
					);
				}),
			]);
			await finished;
			await cutProxy.restore();
			const back = await waitFor(
				async () =>
					processor.child.exitCode === null
						? { health: (await fetch(`${processor.url}/health`)).status }
						: { exited: processor.child.exitCode, output: processor.lines.slice(-5) },
				{
					what: '/health to answer 200 once the connections are back',
					until: (state) => state.health === 200 || 'exited' in state,
				},
			);
			expect(back).toEqual({ health: 200 });
			expect(processor.child.exitCode).toBeNull();
			await faults(0);
			// every lead is in exactly one state: no failed run without its DLQ item
			const ledger = (await (await internal('/internal/stats/ledger')).json()) as object;
			expect(ledger).toMatchObject({ unaccounted: 0 });
			expect(
				(await postLead(processor.url, distinctPerson(check, 99), { key: `after-cut-${check}` }))
					.status,
			).toBe(200);
		} finally {
			await own.close();
		}
	},
);
