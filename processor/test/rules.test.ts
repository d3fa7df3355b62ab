import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as answers from '../src/api/answers.js';
import { defaultRulesFile } from '../src/paths.js';
import {
	postLead,
	startStack,
	testDatabase,
	TEST_SERVICE_TOKEN,
	validLead,
	type Answer,
	type Stack,
} from './support/harness.js';

/*
 * The rules document through the operator API, on a real Postgres: the seeded first version,
 * validation (nothing changes on a refusal), saving with optimistic concurrency, the history and a
 * roll-back, the version each run records, and the dry run's figures against a known set of leads.
 * A change seen by another processor process: rules-reload.test.ts.
 */

type Document = {
	rules: {
		missingFieldCode: string;
		required: { field: string; path: string | string[] }[];
		checks: Record<string, unknown>[];
	};
	mapping: Record<string, unknown>;
	duplicates: Record<string, unknown>;
};

/** A call with extra headers (X-Operator); `stack.internal` sends only the token. */
async function call(
	stack: Stack,
	method: string,
	path: string,
	body?: unknown,
	headers: Record<string, string> = {},
): Promise<Answer> {
	const response = await fetch(`${stack.url}${path}`, {
		method,
		headers: {
			authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
			'content-type': 'application/json',
			...headers,
		},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return {
		status: response.status,
		headers: response.headers,
		body: (await response.json()) as Record<string, unknown>,
	};
}

const current = async (stack: Stack) =>
	(await stack.internal('GET', '/internal/rules')).body as { version: number; document: Document };

/** The document in force with the zip check's pattern replaced. */
async function withZipPattern(stack: Stack, pattern: string): Promise<Document> {
	const { document } = await current(stack);
	const copy = structuredClone(document);
	copy.rules.checks = copy.rules.checks.map((check) =>
		check.code === 'ZIP_NOT_66XXX' ? { ...check, pattern } : check,
	);
	return copy;
}

const versionCount = async (stack: Stack) =>
	(await stack.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rules_versions`)[0]!.n;
const rulesEvents = async (stack: Stack) =>
	stack.sql<{ actor: string; run_id: string | null; payload: Record<string, unknown> }[]>`
		SELECT actor, run_id, payload FROM audit_events WHERE event_type = 'rules_changed' ORDER BY event_id`;

describe('the rules document through the operator API', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ duplicates: 'shipped' });
	});
	afterAll(() => stack.close());

	test('version 1 is the files, seeded by the system, with the default duplicate settings', async () => {
		const answer = await stack.internal('GET', '/internal/rules');
		expect(answers.RulesVersion.safeParse(answer.body).error).toBeUndefined();
		const files = JSON.parse(await readFile(defaultRulesFile, 'utf8')) as Document['rules'];
		expect(answer.body).toMatchObject({
			version: 1,
			changed_by: 'system',
			changed: ['rules', 'mapping', 'duplicates'],
			restores: null,
			document: {
				rules: files,
				duplicates: {
					window_hours: 24,
					identity: 'email_or_phone',
					default_phone_region: 'DE',
					policy: 'drop',
				},
			},
		});
		expect(await rulesEvents(stack)).toEqual([
			{
				actor: 'system',
				run_id: null,
				payload: expect.objectContaining({ version: 1, previous_version: null }),
			},
		]);
	});

	const spoilt: [string, (doc: Document) => unknown, string][] = [
		[
			'a pattern that is not a regular expression',
			(doc: Document) => (doc.rules.checks[0]!.pattern = '^66(\\d{3}$'),
			'document.rules.checks.0.pattern',
		],
		[
			'a pattern that backtracks catastrophically',
			(doc: Document) => (doc.rules.checks[0]!.pattern = '^(\\d+)+$'),
			'document.rules.checks.0.pattern',
		],
		[
			'a check with both pattern and equals',
			(doc: Document) => (doc.rules.checks[0]!.equals = true),
			'document.rules.checks.0',
		],
		['a misspelt section', (doc: Document) => Object.assign(doc, { duplicate: {} }), 'document'],
		[
			'a negative duplicate window',
			(doc: Document) => (doc.duplicates.window_hours = -1),
			'document.duplicates.window_hours',
		],
		[
			'an unknown identity',
			(doc: Document) => (doc.duplicates.identity = 'name'),
			'document.duplicates.identity',
		],
		[
			'a lower-case phone region',
			(doc: Document) => (doc.duplicates.default_phone_region = 'de'),
			'document.duplicates.default_phone_region',
		],
		[
			'a rule code that is not UPPER_SNAKE_CASE',
			(doc: Document) => (doc.rules.checks[1]!.code = 'not-owner'),
			'document.rules.checks.1.code',
		],
		[
			'a mapping attribute of an unknown type',
			(doc: Document) =>
				((doc.mapping.attributes as Record<string, unknown>).solar_area = { type: 'date' }),
			'document.mapping.attributes.solar_area.type',
		],
	];
	test.each(spoilt)(
		'%s is refused with a 400 naming the field; nothing changes',
		async (_case, spoil, path) => {
			const before = await current(stack);
			const document = structuredClone(before.document);
			spoil(document);
			const [versions, events] = [await versionCount(stack), (await rulesEvents(stack)).length];

			for (const [method, url] of [
				['PUT', '/internal/rules'],
				['POST', '/internal/rules/dry-run'],
			] as const) {
				const answer = await stack.internal(method, url, { document });
				expect(answer.status).toBe(400);
				expect(answer.body).toMatchObject({ code: 'invalid_request' });
				expect(answer.body.issues).toEqual(
					expect.arrayContaining([expect.objectContaining({ path })]),
				);
			}
			expect(await versionCount(stack)).toBe(versions);
			expect((await rulesEvents(stack)).length).toBe(events);
			expect(await current(stack)).toEqual(before);
		},
	);

	test('a body nested deeper than 32 levels is refused before it is walked', async () => {
		const document = await withZipPattern(stack, '^66\\d{3}$');
		(document.mapping.constants as Record<string, unknown>).deep = 'DEEP';
		// 50,000 levels: written as text, JSON.stringify would overflow the stack here
		const body = JSON.stringify({ document }).replace(
			'"DEEP"',
			`${'['.repeat(50_000)}1${']'.repeat(50_000)}`,
		);
		const response = await fetch(`${stack.url}/internal/rules`, {
			method: 'PUT',
			headers: {
				authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
				'content-type': 'application/json',
			},
			body,
		});
		expect(response.status).toBe(400);
		const answer = (await response.json()) as { detail: string; issues: unknown };
		expect(answer.detail).toMatch(/32 levels/);
		// like every other refused field, named where it goes too deep
		expect(answer.issues).toEqual([
			{
				path: `document.mapping.constants.deep.${'0.'.repeat(27)}0`,
				message: 'nests objects and arrays deeper than 32 levels',
			},
		]);
	});

	test('a saved version is in force at once: runs record it, the history shows it, the change is audited', async () => {
		const before = await postLead(stack.url, validLead({ address: { zip: '67123' } }));
		expect(before.body).toMatchObject({ status: 'rejected', reasons: ['ZIP_NOT_66XXX'] });

		const document = await withZipPattern(stack, '^6[67]\\d{3}$');
		const saved = await call(
			stack,
			'PUT',
			'/internal/rules',
			{ document, note: 'Saarland and Pfalz', expected_version: 1 },
			{ 'X-Operator': 'Erika Mustermann' },
		);
		expect(answers.RulesSaved.safeParse(saved.body).error).toBeUndefined();
		expect(saved.body).toMatchObject({
			saved: true,
			version: 2,
			changed_by: 'Erika Mustermann',
			note: 'Saarland and Pfalz',
			changed: ['rules'],
			restores: null,
			document,
		});

		// the saving process answered after taking the new version: no wait here
		const after = await postLead(stack.url, validLead({ address: { zip: '67123' } }));
		expect(after.body).toMatchObject({ status: 'accepted' });
		for (const [answer, version] of [
			[before, 1],
			[after, 2],
		] as const) {
			const history = await stack.internal('GET', `/internal/runs/${answer.body.run_id as string}`);
			expect(history.body.run).toMatchObject({ rules_version: version });
		}

		const events = await rulesEvents(stack);
		expect(events.at(-1)).toEqual({
			actor: 'operator',
			run_id: null,
			payload: {
				version: 2,
				previous_version: 1,
				changed_by: 'Erika Mustermann',
				note: 'Saarland and Pfalz',
				changed: ['rules'],
				restores: null,
			},
		});
	});

	test('a stale expected_version is refused with 409; the same document again saves nothing', async () => {
		const { version, document } = await current(stack);
		const edited = await withZipPattern(stack, '^6[678]\\d{3}$');
		const stale = await stack.internal('PUT', '/internal/rules', {
			document: edited,
			expected_version: version - 1,
		});
		expect(stale.status).toBe(409);
		expect(stale.body).toMatchObject({ code: 'rules_version_conflict', current_version: version });
		expect((await current(stack)).version).toBe(version);

		const again = await stack.internal('PUT', '/internal/rules', { document });
		expect(again.body).toMatchObject({ saved: false, version });
		expect(await versionCount(stack)).toBe(version);
	});

	test('a mapping field named __proto__ is refused, not saved without it', async () => {
		const { version, document } = await current(stack);
		// JSON.parse keeps such a key as data; a copy made by assignment would drop it
		const edited = JSON.parse(
			JSON.stringify(document).replace('"fields":{', '"fields":{"__proto__":"email",'),
		) as Record<string, unknown>;
		expect(JSON.stringify(edited)).toContain('"__proto__":"email"');
		const answer = await stack.internal('PUT', '/internal/rules', { document: edited });
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({ code: 'invalid_request' });
		expect(answer.body.detail).toContain('__proto__');
		expect((await current(stack)).version).toBe(version);
	});

	test('X-Operator written in UTF-8 is stored as sent; a Latin-1 one is read as Latin-1', async () => {
		// fetch sends a header's characters as bytes: these strings are the bytes on the wire
		const wire = (text: string, encoding: BufferEncoding) =>
			Buffer.from(text, encoding).toString('latin1');
		for (const [encoding, name] of [
			['utf8', 'Jürgen Groß 李'],
			['latin1', 'Jürgen Groß'],
		] as const) {
			const answer = await call(
				stack,
				'PUT',
				'/internal/rules',
				{ document: await withZipPattern(stack, `^6[0-${encoding === 'utf8' ? 3 : 2}]\\d{3}$`) },
				{ 'X-Operator': wire(name, encoding) },
			);
			expect(answer.status).toBe(200);
			expect(answer.body).toMatchObject({ saved: true, changed_by: name });
		}
	});

	test('two edits of the same version at once: one is saved, the other gets 409', async () => {
		const { version } = await current(stack);
		const edits = await Promise.all(
			['^6[0-6]\\d{3}$', '^6[5-7]\\d{3}$'].map(async (pattern) =>
				stack.internal('PUT', '/internal/rules', {
					document: await withZipPattern(stack, pattern),
					expected_version: version,
				}),
			),
		);
		expect(edits.map((edit) => edit.status).sort()).toEqual([200, 409]);
		expect((await current(stack)).version).toBe(version + 1);

		// without expected_version both are saved, one after the other
		const { version: next } = await current(stack);
		const both = await Promise.all(
			['^6[0-5]\\d{3}$', '^6[0-4]\\d{3}$'].map(async (pattern) =>
				stack.internal('PUT', '/internal/rules', {
					document: await withZipPattern(stack, pattern),
				}),
			),
		);
		expect(both.map((answer) => answer.body.version).sort()).toEqual([next + 1, next + 2]);
	});

	test('the history lists versions newest first, pages back, and rolls back to a version', async () => {
		const { version } = await current(stack);
		const list = await stack.internal('GET', '/internal/rules/versions?limit=2');
		expect(answers.RulesVersionList.safeParse(list.body).error).toBeUndefined();
		const versions = (list.body.versions as { version: number }[]).map((entry) => entry.version);
		expect(versions).toEqual([version, version - 1]);
		expect(JSON.stringify(list.body)).not.toContain('"document"');
		const older = await stack.internal(
			'GET',
			`/internal/rules/versions?limit=2&before=${version - 1}`,
		);
		expect((older.body.versions as { version: number }[]).map((entry) => entry.version)).toEqual([
			version - 2,
			version - 3,
		]);

		const first = await stack.internal('GET', '/internal/rules/versions/1');
		expect(first.body).toMatchObject({ version: 1, changed_by: 'system' });
		expect((await stack.internal('GET', '/internal/rules/versions/999')).status).toBe(404);

		const restored = await call(
			stack,
			'POST',
			'/internal/rules/versions/1/restore',
			{ expected_version: version },
			{ 'X-Operator': 'jane.doe@example.com' },
		);
		expect(restored.body).toMatchObject({
			saved: true,
			version: version + 1,
			restores: 1,
			note: 'restores version 1',
			changed: ['rules'],
			// an e-mail address is masked here as everywhere in the record
			changed_by: 'j***@example.com',
			document: first.body.document,
		});
		expect((await rulesEvents(stack)).at(-1)!.payload).toMatchObject({
			version: version + 1,
			restores: 1,
			changed_by: 'j***@example.com',
		});
		const rejected = await postLead(stack.url, validLead({ address: { zip: '67123' } }));
		expect(rejected.body).toMatchObject({ status: 'rejected', reasons: ['ZIP_NOT_66XXX'] });
		expect((await stack.internal('POST', '/internal/rules/versions/999/restore', {})).status).toBe(
			404,
		);
	});

	test('a name and note within their limits still fit once their e-mail addresses are masked (masking lengthens a@b)', async () => {
		const addresses = Array.from({ length: 25 }, () => 'a@b').join(' ');
		const document = await withZipPattern(stack, '^6[6-8]\\d{3}$');
		const saved = await call(stack, 'PUT', '/internal/rules', {
			document,
			note: Array.from({ length: 250 }, () => 'a@b').join(' '),
			actor: addresses,
		});
		expect(saved.status).toBe(200);
		expect(saved.body).toMatchObject({ saved: true });
		expect([...(saved.body.changed_by as string)]).toHaveLength(100);
		expect(saved.body.changed_by).not.toContain(' a@b');
	});

	test('/metrics shows the version in force in this process', async () => {
		const { version } = await current(stack);
		const text = await (await fetch(`${stack.url}/metrics`)).text();
		expect(text).toContain(`lih_rules_version ${version}`);
	});
});

describe('the dry run', () => {
	let stack: Stack;
	const runs: Record<string, string> = {};
	beforeAll(async () => {
		stack = await startStack();
		// a known set of leads, decided by version 1 (zip 66xxx, home owner, zip and owner required)
		const leads: [string, Record<string, unknown>][] = [
			['A1', validLead()],
			['A2', validLead()],
			['B', validLead({ address: { zip: '67123' } })],
			['C', validLead({ house: { is_owner: false } })],
			['D', validLead({ address: { zip: '68123' } })],
			['E', validLead({ address: { street: 'Hauptstrasse 1' } })],
			['F', validLead({ phone: null })],
		];
		for (const [name, lead] of leads) {
			runs[name] = (await postLead(stack.url, lead)).body.run_id as string;
		}
	});
	afterAll(() => stack.close());

	/** Zip 66xxx or 67xxx under a new code, and a phone required. */
	async function proposal(): Promise<Document> {
		const document = await withZipPattern(stack, '^6[67]\\d{3}$');
		document.rules.checks = document.rules.checks.map((check) =>
			check.code === 'ZIP_NOT_66XXX' ? { ...check, code: 'ZIP_OUTSIDE_AREA' } : check,
		);
		document.rules.required.push({ field: 'phone', path: 'phone' });
		return document;
	}

	test('reports what the proposal would change against the stored leads, and saves nothing', async () => {
		const answer = await stack.internal('POST', '/internal/rules/dry-run', {
			document: await proposal(),
		});
		expect(answers.RulesDryRun.safeParse(answer.body).error).toBeUndefined();
		expect(answer.body).toMatchObject({
			current_version: 1,
			evaluated: 7,
			unreadable: 0,
			current: { accepted: 3, rejected: 4 },
			proposed: { accepted: 3, rejected: 4 },
			// F: no phone
			newly_rejected: {
				count: 1,
				reasons: { MISSING_REQUIRED_FIELD: 1 },
				run_ids: [runs.F],
			},
			// B: 67xxx; its reasons are the current version's
			newly_accepted: { count: 1, reasons: { ZIP_NOT_66XXX: 1 }, run_ids: [runs.B] },
			reasons: {
				ZIP_NOT_66XXX: { current: 2, proposed: 0 },
				ZIP_OUTSIDE_AREA: { current: 0, proposed: 1 },
				NOT_HOMEOWNER: { current: 1, proposed: 1 },
				MISSING_REQUIRED_FIELD: { current: 1, proposed: 2 },
			},
			not_as_recorded: { count: 0, run_ids: [] },
		});
		console.log(`a dry run's answer:\n${JSON.stringify(answer.body, null, 2)}`);
		expect(await versionCount(stack)).toBe(1);
	});

	test('evaluates the newest `limit` leads only', async () => {
		const answer = await stack.internal('POST', '/internal/rules/dry-run', {
			document: await proposal(),
			limit: 2,
		});
		expect(answer.body).toMatchObject({
			evaluated: 2,
			current: { accepted: 1, rejected: 1 },
			newly_rejected: { count: 1, run_ids: [runs.F] },
			newly_accepted: { count: 0 },
		});
		for (const limit of [0, 10_001]) {
			const refused = await stack.internal('POST', '/internal/rules/dry-run', {
				document: await proposal(),
				limit,
			});
			expect(refused.body.issues).toEqual([expect.objectContaining({ path: 'limit' })]);
		}
	});

	test('leads an older version decided are counted as not as recorded', async () => {
		await stack.internal('PUT', '/internal/rules', { document: await proposal() });
		const answer = await stack.internal('POST', '/internal/rules/dry-run', {
			document: await proposal(),
		});
		// under version 2 B is accepted (recorded: rejected) and F rejected (recorded: accepted)
		expect(answer.body).toMatchObject({
			current_version: 2,
			newly_rejected: { count: 0 },
			newly_accepted: { count: 0 },
			not_as_recorded: { count: 2 },
		});
		expect((answer.body.not_as_recorded as { run_ids: string[] }).run_ids.sort()).toEqual(
			[runs.B, runs.F].sort(),
		);
	});
});

describe('the first version', () => {
	test('processors starting together on an empty database seed exactly one; a later edit of the files is pointed out, not taken', async () => {
		const database = await testDatabase();
		const folder = await mkdtemp(join(tmpdir(), 'lih-rules-'));
		const stacks: Stack[] = [];
		try {
			stacks.push(
				...(await Promise.all([1, 2, 3].map(() => startStack({ databaseUrl: database.url })))),
			);
			const [sql] = [stacks[0]!.sql];
			expect(await sql`SELECT version, changed_by FROM rules_versions`).toEqual([
				{ version: 1, changed_by: 'system' },
			]);
			expect(await sql`SELECT 1 FROM audit_events WHERE event_type = 'rules_changed'`).toHaveLength(
				1,
			);

			const edited = join(folder, 'rules.json');
			const rules = JSON.parse(await readFile(defaultRulesFile, 'utf8')) as Document['rules'];
			rules.checks[0]!.pattern = '^67\\d{3}$';
			await writeFile(edited, JSON.stringify(rules));
			const late = await startStack({ databaseUrl: database.url, env: { RULES_FILE: edited } });
			stacks.push(late);
			expect(late.logs.some((line) => line.includes('differs from the version it seeded'))).toBe(
				true,
			);
			expect(await sql`SELECT version FROM rules_versions`).toEqual([{ version: 1 }]);
			const lead = await postLead(late.url, validLead({ address: { zip: '67123' } }));
			expect(lead.body).toMatchObject({ status: 'rejected' });
		} finally {
			for (const stack of stacks) await stack.close();
			await database.drop();
			await rm(folder, { recursive: true, force: true });
		}
	});
});
