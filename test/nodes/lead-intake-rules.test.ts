import type { IDataObject } from 'n8n-workflow';
import { runNode } from './support/engine';
import { startHttpStub, type HttpStub, type StubAnswer } from './support/http-stub';

/*
 * Lead Intake's Rules resource (issue 21), run by n8n's engine against a stub processor: each
 * operation is one call to the rules endpoints of the operator API, with the service token.
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
	operation: string,
	parameters: IDataObject,
	answer: StubAnswer,
	options: { continueOnFail?: boolean } = {},
) {
	processor.answer(() => answer);
	return await runNode(
		{
			type: 'leadIntake',
			typeVersion: 2.1,
			parameters: { resource: 'rules', operation, ...parameters },
			continueOnFail: options.continueOnFail,
		},
		{ credentials: credentials(), items: [{}] },
	);
}

const ok = (body: unknown): StubAnswer => ({ status: 200, body });

const document = {
	rules: { required_fields: ['email'], checks: [] },
	mapping: { fields: {} },
	duplicates: {
		window_hours: 24,
		identity: 'email_or_phone',
		default_phone_region: 'DE',
		policy: 'drop',
	},
};

test('Get Current reads GET /internal/rules with the service token', async () => {
	const run = await operate('getRules', {}, ok({ version: 3, document }));
	expect(processor.requests[0]).toMatchObject({
		method: 'GET',
		path: '/internal/rules',
		headers: { authorization: 'Bearer service-token' },
	});
	expect(run.json('Node')).toEqual([[{ version: 3, document }]]);
	expect(run.outputs('Node')[0]![0]!.pairedItem).toEqual({ item: 0 });
});

test('Dry Run posts the document (given as JSON text) and the limit; nothing else', async () => {
	const answer = { current_version: 3, evaluated: 10, newly_rejected: { count: 1 } };
	const run = await operate(
		'dryRunRules',
		{ document: JSON.stringify(document), leadsToEvaluate: 200 },
		ok(answer),
	);
	expect(processor.requests[0]).toMatchObject({ method: 'POST', path: '/internal/rules/dry-run' });
	expect(JSON.parse(processor.requests[0]!.body)).toEqual({ document, limit: 200 });
	expect(run.json('Node')).toEqual([[answer]]);
});

test('Save puts the document with expected version and note; 0 and empty are left out', async () => {
	await operate(
		'saveRules',
		{ document: JSON.stringify(document), expectedVersion: 3, note: ' one person, one lead ' },
		ok({ saved: true, version: 4 }),
	);
	expect(processor.requests[0]).toMatchObject({ method: 'PUT', path: '/internal/rules' });
	expect(JSON.parse(processor.requests[0]!.body)).toEqual({
		document,
		expected_version: 3,
		note: 'one person, one lead',
	});

	processor.reset();
	await operate('saveRules', { document: JSON.stringify(document) }, ok({ saved: false }));
	expect(JSON.parse(processor.requests[0]!.body)).toEqual({ document });
});

test('a stale version is an API error naming the conflict; bad JSON is refused before a call', async () => {
	const stale = await operate(
		'saveRules',
		{ document: JSON.stringify(document), expectedVersion: 2 },
		{
			status: 409,
			body: { code: 'rules_version_conflict', detail: 'Version 3 is in force, not 2' },
		},
	);
	expect(stale.error).toMatchObject({
		name: 'NodeApiError',
		message: 'Version 3 is in force, not 2',
	});

	processor.reset();
	const broken = await operate('dryRunRules', { document: '{ "rules": ' }, ok({}));
	expect(broken.error).toMatchObject({
		name: 'NodeOperationError',
		message: 'Rules Document is not valid JSON',
	});
	expect(processor.requests).toHaveLength(0);
});

test('List Versions pages with limit and before (0: from the newest)', async () => {
	const answer = { versions: [{ version: 2 }, { version: 1 }] };
	const run = await operate('listRulesVersions', { limit: 2, before: 3 }, ok(answer));
	expect(processor.requests[0]).toMatchObject({
		method: 'GET',
		path: '/internal/rules/versions',
		query: { limit: '2', before: '3' },
	});
	expect(run.json('Node')).toEqual([[answer]]);

	processor.reset();
	await operate('listRulesVersions', {}, ok({ versions: [] }));
	expect(processor.requests[0]!.query).toEqual({ limit: '50' });
});
