import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@lead-intake-hub/stack';
import { connect, type Sql } from '../src/db/connection.js';
import { migrate } from '../src/db/migrate.js';
import { defaultMigrationsDir } from '../src/paths.js';
import { testDatabase } from './support/harness.js';

let database: Awaited<ReturnType<typeof testDatabase>>;
let sql: Sql;
beforeAll(async () => {
	database = await testDatabase();
	sql = connect(database.url, { maxConnections: 4 });
});
afterAll(async () => {
	await sql.end();
	await database.drop();
});

test('applies every migration once; running again (even concurrently) changes nothing', async () => {
	const [first, second, third] = await Promise.all([
		migrate(sql, defaultMigrationsDir),
		migrate(sql, defaultMigrationsDir),
		migrate(sql, defaultMigrationsDir),
	]);
	const files = (await readdir(defaultMigrationsDir))
		.filter((name) => name.endsWith('.sql'))
		.sort();
	expect(files[0]).toBe('0001_initial_schema.sql');
	expect(files.length).toBeGreaterThanOrEqual(2);
	expect([...first, ...second, ...third]).toEqual(files.map((name) => name.replace(/\.sql$/, '')));
	expect(await migrate(sql, defaultMigrationsDir)).toEqual([]);
	const tables = await sql`
		SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
	expect(tables.map((row) => row.table_name)).toEqual([
		'alerts_index_lease',
		'audit_events',
		'delivery_attempts',
		'dlq',
		'kpi_daily',
		'outcome_events',
		'person_identities',
		'privacy_erasures',
		'rate_limit_hits',
		'routed_alerts',
		'rules_versions',
		'runs',
		'schema_migrations',
	]);
	const [index] =
		await sql`SELECT indexdef FROM pg_indexes WHERE indexname = 'runs_idempotency_key_uq'`;
	expect(index!.indexdef).toContain('UNIQUE');
});

test('`npm run migrate` (its command after the build) migrates a new database and says what it did', async () => {
	const scripts = (
		JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
			scripts: Record<string, string>;
		}
	).scripts;
	// "npm run build --workspace processor && node <the CLI>": the build has run before the tests
	const [command, ...args] = scripts.migrate!.split(' && ').at(-1)!.split(' ');
	expect(command).toBe('node');
	const target = await testDatabase();
	try {
		const run = () =>
			promisify(execFile)(process.execPath, args, {
				cwd: repoRoot,
				env: { ...process.env, DATABASE_URL: target.url },
			});
		expect((await run()).stdout).toMatch(/^Applied 0001_initial_schema, 0002_/);
		expect((await run()).stdout).toBe('Database is up to date; nothing to apply.\n');
	} finally {
		await target.drop();
	}
});

test('an applied migration whose statements were edited is refused; a reworded comment is not', async () => {
	const dir = await mkdtemp(join(tmpdir(), 'lih-migrations-'));
	try {
		const original = await readFile(join(defaultMigrationsDir, '0001_initial_schema.sql'), 'utf8');
		await writeFile(join(dir, '0001_initial_schema.sql'), `-- reworded\n${original}\n-- edited\n`);
		expect(await migrate(sql, dir)).toEqual([]);
		await writeFile(
			join(dir, '0001_initial_schema.sql'),
			`${original}\nCREATE TABLE sneaky (id int);\n`,
		);
		await expect(migrate(sql, dir)).rejects.toThrow(/was changed after it was applied/);
	} finally {
		await rm(dir, { recursive: true });
	}
});

test("a database that recorded the whole file's checksum (before comments stopped counting) migrates on", async () => {
	await sql`UPDATE schema_migrations SET checksum = 'fb576d565512345562dc34a29a123797b0dc539d569ef8900ecc175db7df84bf'
		WHERE version = '0001_initial_schema'`;
	expect(await migrate(sql, defaultMigrationsDir)).toEqual([]);
	const [row] =
		await sql`SELECT checksum FROM schema_migrations WHERE version = '0001_initial_schema'`;
	expect(row!.checksum).not.toBe(
		'fb576d565512345562dc34a29a123797b0dc539d569ef8900ecc175db7df84bf',
	);
});
