import { waitFor } from '@lead-intake-hub/stack';
import {
	postLead,
	startStack,
	TEST_SECRET,
	TEST_SERVICE_TOKEN,
	validLead,
	type Stack,
} from './support/harness.js';
import { startProcessorProcess, type ProcessorProcess } from './support/processes.js';
import { connect } from '../src/db/connection.js';
import { findRulesVersion } from '../src/db/rules-versions.js';
import { createLogger } from '../src/logger.js';
import type { HttpError } from '../src/errors.js';
import type { RulesDocument } from '../src/rules/document.js';
import { startLiveRules } from '../src/rules/live-rules.js';
import { saveRules } from '../src/rules/rules-service.js';

/*
 * A rules change reaches another processor PROCESS on the same database without a restart: by
 * its notification within moments, and, when the notification is lost, by the poll within
 * RULES_POLL_SECONDS. Events are awaited (the other process's log lines), each with a deadline.
 */

const POLL_SECONDS = 2;

let stack: Stack;
let other: ProcessorProcess;

/** Another processor process on the stack's database, with the stack's secrets. */
function processorEnv(extra: Record<string, string> = {}): Record<string, string> {
	return {
		DATABASE_URL: stack.databaseUrl,
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'test-salt-0123',
		LEAD_ENCRYPTION_KEY: 'test-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		CRM_URL: `${stack.crm.url}/leads/upsert`,
		CRM_TOKEN: 'test-crm-token',
		ALERTS_PASS_SECONDS: '0',
		...extra,
	};
}

beforeAll(async () => {
	stack = await startStack({ env: { RULES_POLL_SECONDS: '300' } });
	other = await startProcessorProcess(processorEnv({ RULES_POLL_SECONDS: String(POLL_SECONDS) }));
}, 30_000);
afterAll(async () => {
	await other?.kill('SIGTERM');
	await stack?.close();
});

/** The first line the other process prints from now on that matches, or a failure after `ms`. */
async function nextLine(match: (line: string) => boolean, ms: number, what: string) {
	const from = other.lines.length;
	const { line } = await waitFor(
		() => ({ line: other.lines.slice(from).find(match), lastLines: other.lines.slice(-20) }),
		{
			what: `the other processor to log ${what}`,
			until: (seen) => seen.line !== undefined,
			deadlineMs: ms,
			intervalMs: 20,
		},
	);
	return JSON.parse(line!) as { trigger?: string; time: number };
}

const inForce = (version: number, ms: number) =>
	nextLine(
		(line) => line.includes('"rules in force"') && line.includes(`"rules_version":${version},`),
		ms,
		`rules version ${version} in force`,
	);
const listening = (ms: number) =>
	nextLine((line) => line.includes('"listening for rules changes"'), ms, 'a new listen');

async function saveZipPattern(pattern: string): Promise<number> {
	const { document } = (await stack.internal('GET', '/internal/rules')).body as {
		document: { rules: { checks: Record<string, unknown>[] } };
	};
	document.rules.checks = document.rules.checks.map((check) =>
		check.code === 'ZIP_NOT_66XXX' ? { ...check, pattern } : check,
	);
	const saved = await stack.internal('PUT', '/internal/rules', { document });
	expect(saved.body).toMatchObject({ saved: true });
	return saved.body.version as number;
}

/** This test's own live rules on `sql` (versions exist: the seed files are never read). */
const liveRulesOf = (sql: Parameters<typeof startLiveRules>[0], deadlineMs: number) =>
	startLiveRules(sql, {
		pollSeconds: 300,
		deadlineMs,
		logger: createLogger('silent'),
		seed: () => Promise.reject(new Error('versions exist: the files are not read')),
	});

const runVersion = async (runId: string) =>
	(
		await stack.sql<{ rules_version: number }[]>`
		SELECT rules_version FROM runs WHERE run_id = ${runId}`
	)[0]!.rules_version;

test('a version saved through one processor is in force in another process within moments, without a restart', async () => {
	expect(other.lines.some((line) => line.includes('"listening for rules changes"'))).toBe(true);
	const rejected = await postLead(other.url, validLead({ address: { zip: '67123' } }));
	expect(rejected.body).toMatchObject({ status: 'rejected' });

	const started = Date.now();
	const taking = inForce(2, 5000);
	const version = await saveZipPattern('^6[67]\\d{3}$');
	expect(version).toBe(2);
	const taken = await taking;
	expect(taken.trigger).toBe('notification');
	const [saved] = await stack.sql<{ created_at: Date }[]>`
		SELECT created_at FROM rules_versions WHERE version = ${version}`;
	console.log(
		`rules version ${version}: the save answered ${Date.now() - started} ms after it was sent; in force in the other process ${taken.time - saved!.created_at.getTime()} ms after its transaction began`,
	);

	const accepted = await postLead(other.url, validLead({ address: { zip: '67123' } }));
	expect(accepted.body).toMatchObject({ status: 'accepted' });
	expect(await runVersion(accepted.body.run_id as string)).toBe(version);
	expect(await runVersion(rejected.body.run_id as string)).toBe(1);
});

test('a version whose notification is lost is found by the poll within RULES_POLL_SECONDS; the listen is set up anew', async () => {
	const [latest] = await stack.sql<{ version: number; document: unknown }[]>`
		SELECT version, document FROM rules_versions ORDER BY version DESC LIMIT 1`;
	const { version, document } = latest!;
	// written with triggers off (a replica session): no notification is sent
	const started = Date.now();
	const taking = inForce(version + 1, (POLL_SECONDS + 3) * 1000);
	const relistening = listening((POLL_SECONDS + 3) * 1000);
	await stack.sql.begin(async (tx) => {
		await tx`SET LOCAL session_replication_role = replica`;
		await tx`
			INSERT INTO rules_versions (version, document, changed_by, note)
			VALUES (${version + 1}, ${tx.json(document as never)}, 'test', 'announced to nobody')`;
	});
	const taken = await taking;
	expect(taken.trigger).toBe('poll');
	expect(taken.time - started).toBeLessThan((POLL_SECONDS + 2) * 1000);
	console.log(
		`rules version ${version + 1}, announced to nobody: in force in the other process ${taken.time - started} ms after it was written (RULES_POLL_SECONDS=${POLL_SECONDS})`,
	);
	await relistening;

	// and the next change is announced again
	const announced = inForce(version + 2, 5000);
	expect(await saveZipPattern('^6[5-7]\\d{3}$')).toBe(version + 2);
	expect((await announced).trigger).toBe('notification');
});

test('after the listening connection is cut the process listens again and hears the next version', async () => {
	const relistening = listening(5000);
	const killed = await stack.sql`
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen %' AND pid <> pg_backend_pid()`;
	expect(killed.length).toBe(2);
	await relistening;
	const [latest] = await stack.sql<{ version: number }[]>`
		SELECT max(version) AS version FROM rules_versions`;
	const version = latest!.version;
	const announced = inForce(version + 1, 5000);
	expect(await saveZipPattern('^6[4-7]\\d{3}$')).toBe(version + 1);
	expect((await announced).trigger).toBe('notification');
});

test('a stored version that does not validate (written by hand) is skipped: running processors keep the one before, and a new one still starts on it', async () => {
	const [latest] = await stack.sql<{ version: number }[]>`
		SELECT max(version) AS version FROM rules_versions`;
	const valid = latest!.version;
	const refused = nextLine(
		(line) => line.includes('does not validate') && line.includes(`"rules_version":${valid + 1}`),
		5000,
		'the unreadable version refused',
	);
	await stack.sql`
		INSERT INTO rules_versions (version, document, changed_by, note)
		VALUES (${valid + 1}, ${stack.sql.json({ rules: 'by hand' })}, 'test', 'not a document')`;
	await refused;
	// the operator sees, and dry-runs against, the version in force, not the unreadable one
	const shown = await stack.internal('GET', '/internal/rules');
	expect(shown.body).toMatchObject({ version: valid });
	const dry = await stack.internal('POST', '/internal/rules/dry-run', {
		document: shown.body.document,
	});
	expect(dry.status).toBe(200);
	// and can save against it: the unreadable version is not the one to have expected
	const saved = await stack.internal('PUT', '/internal/rules', {
		document: shown.body.document,
		expected_version: valid,
	});
	expect(saved.body).toMatchObject({ saved: false, version: valid });

	const late = await startProcessorProcess(processorEnv());
	try {
		const inForceLines = late.lines.filter((line) => line.includes('"rules in force"'));
		expect(inForceLines).toHaveLength(1);
		expect(inForceLines[0]).toContain(`"rules_version":${valid},`);
		const answer = await postLead(late.url, validLead());
		expect(answer.status).toBe(200);
	} finally {
		await late.kill('SIGTERM');
	}
});

test('a save this process cannot load in time answers 503 rules_not_in_force, not that it is in force; the same save again answers once it is', async () => {
	// this process's reload reads through a pool of one connection, which a slow query holds
	const reloadSql = connect(stack.databaseUrl, { maxConnections: 1 });
	const live = await liveRulesOf(reloadSql, 200);
	try {
		const before = live.current().version;
		const document = (await findRulesVersion(stack.sql, before))!.document as RulesDocument;
		document.rules.checks = document.rules.checks.map((check) =>
			check.code === 'ZIP_NOT_66XXX' ? { ...check, pattern: '^6[0-9]\\d{3}$' } : check,
		);
		const change = { expectedVersion: before, changedBy: 'test', note: null, correlationId: 'c' };
		const slow = reloadSql`SELECT pg_sleep(3)`.execute();
		const refused = await saveRules({ sql: stack.sql, live }, document, change).then(
			() => null,
			(error: unknown) => error as HttpError,
		);
		expect(refused).toMatchObject({
			status: 503,
			code: 'rules_not_in_force',
			details: { in_force: before },
		});
		const savedVersion = refused!.details.saved_version as number;
		expect(savedVersion).toBeGreaterThan(before);
		expect(live.current().version).toBe(before);

		await slow;
		const again = await saveRules({ sql: stack.sql, live }, document, change);
		expect(again).toMatchObject({ saved: false, version: savedVersion });
		expect(live.current().version).toBe(savedVersion);
	} finally {
		await live.close();
		await reloadSql.end();
	}
});

test('a valid version and an unreadable one after it, landing together: every process takes the valid one, the version a save is decided against', async () => {
	const shown = await stack.internal('GET', '/internal/rules');
	const [latest] = await stack.sql<{ version: number }[]>`
		SELECT max(version)::int AS version FROM rules_versions`;
	const valid = latest!.version + 1;
	const taken = inForce(valid, 5000);
	await stack.sql`
		INSERT INTO rules_versions (version, document, changed_by, note)
		SELECT ${valid}::int, document, 'test', 'valid' FROM rules_versions
		WHERE version = ${shown.body.version as number}
		UNION ALL
		SELECT ${valid + 1}::int, ${stack.sql.json({ rules: 'by hand' })}, 'test', 'not a document'`;
	await taken;
	await waitFor(async () => (await stack.internal('GET', '/internal/rules')).body.version, {
		what: `version ${valid} in force in the stack's processor`,
		until: (version) => version === valid,
	});
	const saved = await stack.internal('PUT', '/internal/rules', {
		document: shown.body.document,
		expected_version: valid,
	});
	expect(saved.body).toMatchObject({ saved: false, version: valid });
});

test('an unreadable newest version whose walk back failed halfway is walked again: the valid one below it is taken', async () => {
	const reloadSql = connect(stack.databaseUrl, { maxConnections: 2 });
	// one read of one version fails, as on a lost connection
	let failReadOf: number | null = null;
	const flaky = new Proxy(reloadSql, {
		apply(target, thisArg, args: unknown[]) {
			const [strings, ...values] = args;
			if (
				failReadOf !== null &&
				Array.isArray(strings) &&
				strings.join('').includes('WHERE version =') &&
				values.at(-1) === failReadOf
			) {
				failReadOf = null;
				return Promise.reject(new Error('the connection was lost'));
			}
			return Reflect.apply(target, thisArg, args) as unknown;
		},
	});
	const live = await liveRulesOf(flaky, 2000);
	try {
		const before = live.current().version;
		const [latest] = await stack.sql<{ version: number }[]>`
			SELECT max(version)::int AS version FROM rules_versions`;
		const valid = latest!.version + 1;
		failReadOf = valid;
		await stack.sql`
			INSERT INTO rules_versions (version, document, changed_by, note)
			SELECT ${valid}::int, document, 'test', 'valid' FROM rules_versions WHERE version = ${before}
			UNION ALL
			SELECT ${valid + 1}::int, ${stack.sql.json({ rules: 'by hand' })}, 'test', 'not a document'`;
		// the announcement's load reads the unreadable one, then fails on the valid one below it
		await waitFor(() => failReadOf, {
			what: 'the failed read',
			until: (version) => version === null,
		});
		await live.refresh();
		expect(live.current().version).toBe(valid);
	} finally {
		await live.close();
		await reloadSql.end();
	}
});

test('a stored version with a pattern that may backtrack catastrophically (written by hand) is not taken', async () => {
	const live = await liveRulesOf(stack.sql, 2000);
	try {
		const before = live.current().version;
		const document = (await findRulesVersion(stack.sql, before))!.document as RulesDocument;
		document.rules.checks = document.rules.checks.map((check) =>
			check.code === 'ZIP_NOT_66XXX' ? { ...check, pattern: '^(\\d+)+$' } : check,
		);
		const [latest] = await stack.sql<{ version: number }[]>`
			SELECT max(version)::int AS version FROM rules_versions`;
		await stack.sql`
			INSERT INTO rules_versions (version, document, changed_by, note)
			VALUES (${latest!.version + 1}, ${stack.sql.json(document as never)}, 'test', 'by hand')`;
		await live.refresh();
		// one lead with a zip of forty digits and a letter would hold the event loop for ever
		expect(live.current().version).toBe(before);
	} finally {
		await live.close();
	}
});
