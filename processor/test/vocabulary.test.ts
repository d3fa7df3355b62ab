import { connect, type Sql } from '../src/db/connection.js';
import { migrate } from '../src/db/migrate.js';
import { defaultMigrationsDir } from '../src/paths.js';
import {
	ACTORS,
	ATTEMPT_TRIGGERS,
	DLQ_STATUSES,
	EVENT_TYPES,
	OUTBOX_STATUSES,
	IDENTITY_MATCHES,
	OUTCOME_EVENT_TYPES,
	RESOLVED_BY,
	RUN_STATUSES,
} from '../src/vocabulary.js';
import { testDatabase } from './support/harness.js';

/** The code's vocabulary and the database's CHECK constraints are one list each. */
let database: Awaited<ReturnType<typeof testDatabase>>;
let sql: Sql;

beforeAll(async () => {
	database = await testDatabase();
	sql = connect(database.url, { maxConnections: 1 });
	await migrate(sql, defaultMigrationsDir);
});
afterAll(async () => {
	await sql.end();
	await database.drop();
});

async function allowedBy(constraint: string): Promise<string[]> {
	const [row] = await sql<{ definition: string }[]>`
		SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = ${constraint}`;
	expect(row).toBeDefined();
	return [...row!.definition.matchAll(/'([^']+)'::text/g)].map((match) => match[1]!).sort();
}

test.each([
	['runs_status_check', RUN_STATUSES],
	['dlq_status_check', DLQ_STATUSES],
	['audit_events_type_check', EVENT_TYPES],
	['audit_events_actor_check', ACTORS],
	['delivery_attempts_trigger_check', ATTEMPT_TRIGGERS],
	['outcome_events_type_check', OUTCOME_EVENT_TYPES],
	['outcome_events_status_check', OUTBOX_STATUSES],
	['person_identities_match_check', IDENTITY_MATCHES],
	['runs_duplicate_match_check', IDENTITY_MATCHES],
] as const)('%s allows exactly the declared values', async (constraint, declared) => {
	expect(await allowedBy(constraint)).toEqual([...declared].sort());
});

test('the trigger that writes lead.resolved names exactly the declared ways an item leaves the queue (by)', async () => {
	const [row] = await sql<{ definition: string }[]>`
		SELECT pg_get_functiondef('dlq_outcome_events'::regproc) AS definition`;
	const byCase = row!.definition.slice(row!.definition.indexOf("'by', CASE"));
	const named = [
		...byCase.slice(0, byCase.indexOf('END')).matchAll(/THEN '([a-z_]+)'|ELSE '([a-z_]+)'/g),
	];
	expect(named.map((match) => match[1] ?? match[2]).sort()).toEqual([...RESOLVED_BY].sort());
});
