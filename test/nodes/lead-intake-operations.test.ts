import type { IDataObject } from 'n8n-workflow';
import { operations, resources } from '../../nodes/LeadIntake/v2/actions/versionDescription';
import { runNode, type RunOptions } from './support/engine';
import { startHttpStub, type HttpStub, type StubAnswer } from './support/http-stub';

/*
 * Lead Intake's operator operations (runs, DLQ, KPI), run by n8n's engine against a stub
 * processor: each input item is one request to an internal endpoint, with the service token.
 */

let processor: HttpStub;
beforeAll(async () => {
	processor = await startHttpStub();
});
afterAll(async () => {
	await processor.close();
});
beforeEach(() => processor.reset());

const credentials = () => ({
	leadIntakeProcessorApi: {
		baseUrl: processor.url,
		hmacSecret: 'current-secret-0123456789',
		serviceToken: 'service-token',
	},
});

async function operate(
	resource: string,
	operation: string,
	parameters: IDataObject,
	answer: StubAnswer | ((index: number) => StubAnswer),
	options: { continueOnFail?: boolean; items?: IDataObject[] } & RunOptions = {},
) {
	let index = 0;
	processor.answer(() => (typeof answer === 'function' ? answer(index++) : answer));
	return await runNode(
		{
			type: 'leadIntake',
			typeVersion: 2.1,
			parameters: { resource, operation, ...parameters },
			continueOnFail: options.continueOnFail,
		},
		{ credentials: credentials(), items: options.items ?? [{}] },
	);
}

const ok = (body: unknown): StubAnswer => ({ status: 200, body });

test('each operation module owns its parameters, and operation values are unique across resources', () => {
	const values = Object.values(resources).flatMap((resource) =>
		Object.values(resource.operations).map((module) => module.option.value),
	);
	expect(new Set(values).size).toBe(values.length);
	expect(Object.keys(operations).sort()).toEqual([...values].sort());
	// the router and the parameters key on the operation alone (a file may leave the resource out)
	for (const module of Object.values(operations)) {
		for (const parameter of module.description) {
			expect([parameter.name, parameter.displayOptions?.show?.operation]).toEqual([
				parameter.name,
				[module.option.value],
			]);
		}
	}
});

test('Get a run by ID or by idempotency key (URL-encoded), with the service token', async () => {
	const byId = await operate(
		'run',
		'getRun',
		{ lookUpBy: 'runId', runId: ' r-1 ' },
		ok({ run: { run_id: 'r-1' } }),
	);
	expect(processor.requests[0]).toMatchObject({
		method: 'GET',
		path: '/internal/runs/r-1',
		headers: { authorization: 'Bearer service-token' },
	});
	expect(byId.json('Node')).toEqual([[{ run: { run_id: 'r-1' } }]]);
	expect(byId.outputs('Node')[0]![0]!.pairedItem).toEqual({ item: 0 });

	await operate('run', 'getRun', { lookUpBy: 'idempotencyKey', key: 'a/b c' }, ok({ run: {} }));
	expect(processor.requests[1]!.path).toBe('/internal/runs/by-key/a%2Fb%20c');
});

test('Run ID is the default lookup, and expressions read it from each item', async () => {
	const run = await operate('run', 'getRun', { runId: '={{ $json.run }}' }, ok({ run: {} }), {
		items: [{ run: 'r-7' }, { run: 'r-8' }],
	});
	expect(processor.requests.map(({ path }) => path)).toEqual([
		'/internal/runs/r-7',
		'/internal/runs/r-8',
	]);
	expect(run.outputs('Node')[0]!.map((item) => item.pairedItem)).toEqual([
		{ item: 0 },
		{ item: 1 },
	]);
});

test('a missing run is an API error that says so; an old processor is told apart', async () => {
	const notFound = await operate(
		'run',
		'getRun',
		{ lookUpBy: 'runId', runId: 'r-404' },
		{ status: 404, body: { code: 'run_not_found', detail: 'No run r-404' } },
	);
	expect(notFound.error).toMatchObject({ name: 'NodeApiError', message: 'No run r-404' });
	const oldProcessor = await operate(
		'run',
		'getRun',
		{ lookUpBy: 'idempotencyKey', key: 'k' },
		{ status: 404, body: 'Not Found' },
	);
	expect(oldProcessor.error!.message).toMatch(/does not offer \/internal\/runs\/by-key\/k \(404\)/);
	const refused = await operate('run', 'getRun', { runId: 'r' }, { status: 401, body: {} });
	expect(refused.error!.message).toMatch(/refused the service token/);
	const empty = await operate('run', 'getRun', { runId: '  ' }, ok({}));
	expect(empty.error).toMatchObject({
		name: 'NodeOperationError',
		message: 'The parameter "runId" is empty',
	});
});

test('with Continue On Fail an operator error becomes an item and the other items go on', async () => {
	const run = await operate(
		'dlqItem',
		'retryDlqItem',
		{ dlqId: '={{ $json.id }}' },
		(index) =>
			index === 0
				? { status: 409, body: { detail: 'DLQ item 5 is resolved' } }
				: ok({ dlq_id: 6, outcome: 'resolved' }),
		{ continueOnFail: true, items: [{ id: 5 }, { id: 6 }] },
	);
	expect(run.error).toBeUndefined();
	expect(run.outputs('Node')).toEqual([
		[
			{ json: { error: 'DLQ item 5 is resolved' }, pairedItem: { item: 0 } },
			{ json: { dlq_id: 6, outcome: 'resolved' }, pairedItem: { item: 1 } },
		],
	]);
});

test('Get Many DLQ items: one item each, filters as query, all pages with Return All', async () => {
	const limited = await operate(
		'dlqItem',
		'listDlq',
		{ limit: 2, filters: { status: 'dead', reason: ' crm_http_400 ' } },
		ok({ items: [{ id: 1 }, { id: 2 }], total: 9 }),
	);
	expect(processor.requests[0]).toMatchObject({
		method: 'GET',
		path: '/internal/dlq',
		query: { status: 'dead', reason: 'crm_http_400', limit: '2', offset: '0' },
	});
	expect(limited.json('Node')).toEqual([[{ id: 1 }, { id: 2 }]]);

	processor.reset();
	const pages = [Array.from({ length: 500 }, (_, index) => ({ id: index + 1 })), [{ id: 501 }]];
	const all = await operate('dlqItem', 'listDlq', { returnAll: true }, (index) =>
		ok({ items: pages[index], total: 501 }),
	);
	expect(processor.requests.map(({ query }) => query)).toEqual([
		{ limit: '500', offset: '0' },
		{ limit: '500', offset: '500' },
	]);
	expect(all.outputs('Node')[0]).toHaveLength(501);
});

test('Get Many by default: the first 50, any status', async () => {
	await operate('dlqItem', 'listDlq', {}, ok({ items: [], total: 0 }));
	expect(processor.requests[0]!.query).toEqual({ limit: '50', offset: '0' });
});

test('Retry and Resolve one DLQ item', async () => {
	const retried = await operate(
		'dlqItem',
		'retryDlqItem',
		{ dlqId: 7 },
		ok({ dlq_id: 7, outcome: 'resolved' }),
	);
	expect(processor.requests[0]).toMatchObject({ method: 'POST', path: '/internal/dlq/7/retry' });
	expect(retried.json('Node')).toEqual([[{ dlq_id: 7, outcome: 'resolved' }]]);

	await operate(
		'dlqItem',
		'resolveDlqItem',
		{ dlqId: 7, note: ' typed in by hand ' },
		ok({ id: 7 }),
	);
	expect(processor.requests[1]).toMatchObject({
		method: 'POST',
		path: '/internal/dlq/7/resolve',
		body: JSON.stringify({ note: 'typed in by hand' }),
	});
	// n8n itself refuses a workflow whose required Note is empty; an expression that comes out
	// blank is the node's to refuse
	await expect(
		operate('dlqItem', 'resolveDlqItem', { dlqId: 7, note: '' }, ok({})),
	).rejects.toThrow('Parameter "Note" is required');
	const blankNote = await operate(
		'dlqItem',
		'resolveDlqItem',
		{ dlqId: 7, note: '={{ $json.note }}' },
		ok({}),
		{ items: [{ note: ' ' }] },
	);
	expect(blankNote.error!.message).toBe('The parameter "note" is empty');
	const badId = await operate('dlqItem', 'retryDlqItem', { dlqId: 0 }, ok({}));
	expect(badId.error!.message).toMatch(/whole number/);
	expect(processor.requests).toHaveLength(2);
});

test('Replay: a dry run by default, filters in the body, dead items on the second output', async () => {
	const dry = await operate('dlqItem', 'replayDlq', {}, ok({ dry_run: true, matched: 12 }));
	expect(JSON.parse(processor.requests[0]!.body)).toEqual({ dry_run: true, limit: 100 });
	expect(dry.json('Node')).toEqual([[{ dry_run: true, matched: 12 }], []]);

	const real = await operate(
		'dlqItem',
		'replayDlq',
		{
			dryRun: false,
			replayLimit: 500,
			replayFilters: {
				status: ['dead'],
				reason: 'crm_http_503',
				source: 'website',
				from: '2026-11-01T00:00:00Z',
				to: '2026-11-02T00:00:00Z',
			},
		},
		ok({
			dry_run: false,
			matched: 2,
			items: [
				{ dlq_id: 1, run_id: 'r1', outcome: 'resolved' },
				{ dlq_id: 2, run_id: 'r2', outcome: 'dead', status_code: 400 },
			],
		}),
	);
	expect(JSON.parse(processor.requests[1]!.body)).toEqual({
		dry_run: false,
		limit: 500,
		status: ['dead'],
		reason: 'crm_http_503',
		source: 'website',
		from: '2026-11-01T00:00:00.000Z',
		to: '2026-11-02T00:00:00.000Z',
	});
	expect(real.json('Node')[1]).toEqual([
		{
			outcome: 'dead',
			statusCode: 400,
			run_id: 'r2',
			response: { dlq_id: 2, run_id: 'r2', outcome: 'dead', status_code: 400 },
		},
	]);
	const badDate = await operate(
		'dlqItem',
		'replayDlq',
		{ replayFilters: { from: 'yesterday-ish' } },
		ok({}),
	);
	expect(badDate.error!.message).toBe('The filter "from" is not a date and time');
});

test('Retry Due: the summary and one item per item that died', async () => {
	const run = await operate(
		'dlqItem',
		'retryDue',
		{ batchSize: 50 },
		ok({ claimed: 2, dead: 1, dead_items: [{ dlq_id: 3, run_id: 'r3', status_code: 503 }] }),
	);
	expect(processor.requests[0]).toMatchObject({
		path: '/internal/dlq/retry-due',
		body: JSON.stringify({ limit: 50 }),
	});
	expect(run.json('Node')).toEqual([
		[{ claimed: 2, dead: 1, dead_items: [{ dlq_id: 3, run_id: 'r3', status_code: 503 }] }],
		[
			{
				outcome: 'dead',
				statusCode: 503,
				run_id: 'r3',
				response: { dlq_id: 3, run_id: 'r3', status_code: 503 },
			},
		],
	]);
	expect(run.outputs('Node')[1]![0]!.pairedItem).toEqual({ item: 0 });
	await operate('dlqItem', 'retryDue', {}, ok({ claimed: 0, dead_items: [] }));
	expect(processor.requests[1]!.body).toBe(JSON.stringify({ limit: 500 }));
});

test('Compute Daily KPI: a given day, or yesterday', async () => {
	await operate('kpi', 'computeKpi', { date: '2026-11-23' }, ok({ day: '2026-11-23' }));
	expect(processor.requests[0]).toMatchObject({
		path: '/internal/kpi/compute-daily',
		body: '{"date":"2026-11-23"}',
	});
	await operate('kpi', 'computeKpi', {}, ok({}));
	expect(processor.requests[1]!.body).toBe('{}');
});

test('an unreachable processor is an API error that names the credential to check', async () => {
	const run = await operate('kpi', 'computeKpi', {}, { status: 0, hangUp: true });
	expect(run.error).toMatchObject({
		name: 'NodeApiError',
		description: 'Check the Base URL of the Lead Intake Processor API credential',
	});
	expect(run.error!.message).toMatch(/^The processor could not be reached/);
});

test('a workflow file that names the operation without its resource still gets it', async () => {
	// n8n stores no parameter that has its default value (resource: lead)
	const run = await runNode(
		{ type: 'leadIntake', typeVersion: 2, parameters: { operation: 'retryDue', batchSize: 9 } },
		{ credentials: credentials() },
	);
	expect(run.error).toBeUndefined();
	expect(processor.requests[0]).toMatchObject({
		path: '/internal/dlq/retry-due',
		body: JSON.stringify({ limit: 9 }),
	});
});

test('Person: Erase and Export send the person and who asks, and output what the processor answered', async () => {
	const erased = {
		erasure_id: 7,
		run_ids: ['r-1'],
		counts: { runs: 1 },
		crm: { status: 'pending' },
		nothing_left: false,
	};
	const run = await operate(
		'person',
		'erasePerson',
		{ email: ' jane@example.com ', phone: '', actor: 'dpo' },
		ok(erased),
	);
	expect(processor.requests[0]).toMatchObject({
		method: 'POST',
		path: '/internal/privacy/erase',
		body: JSON.stringify({ email: 'jane@example.com', actor: 'dpo' }),
		headers: { authorization: 'Bearer service-token' },
	});
	expect(run.json('Node')).toEqual([[erased]]);
	expect(run.outputs('Node')[0]![0]!.pairedItem).toEqual({ item: 0 });

	await operate('person', 'exportPerson', { phone: '+49 170 1' }, ok({ runs: [] }));
	expect(processor.requests[1]).toMatchObject({
		path: '/internal/privacy/export',
		body: JSON.stringify({ phone: '+49 170 1' }),
	});
});

test('Person: a field whose expression gives nothing for an item is left out, not sent as "undefined"', async () => {
	await operate(
		'person',
		'erasePerson',
		{ email: '={{ $json.email }}', phone: '={{ $json.phone }}' },
		ok({ nothing_left: true }),
		{ items: [{ phone: '+49 170 2' }] },
	);
	expect(processor.requests[0]).toMatchObject({ body: JSON.stringify({ phone: '+49 170 2' }) });
});

test('Person: nobody named is refused before any request; with Continue On Fail the item carries the error', async () => {
	const refused = await operate('person', 'erasePerson', {}, ok({}));
	expect(refused.error?.message).toContain('Name the person');
	expect(processor.requests).toHaveLength(0);
	const continued = await operate('person', 'exportPerson', {}, ok({}), { continueOnFail: true });
	expect(JSON.stringify(continued.json('Node'))).toContain('Name the person');
});
