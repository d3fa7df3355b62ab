import type { IdentityMatch, PersonIdentity } from '../vocabulary.js';
import type { Sql } from './connection.js';
import type postgres from 'postgres';
import { insertEventRows } from './audit-events.js';

/*
 * person_identities: the salted identity hashes of the first run of each person
 * (docs/adr/0010-same-person-identity.md). One module for the table, as for every table.
 */

export interface SamePerson {
	/** The first run of this person within the window. */
	duplicateOf: string;
	/** Its idempotency key: an update is sent to the CRM under it (policy update). */
	firstIdempotencyKey: string;
	match: IdentityMatch;
}

export interface PersonClaim {
	runId: string;
	correlationId: string;
	identities: readonly PersonIdentity[];
	windowHours: number;
	policy: 'drop' | 'update';
	/** Answered on store: a run that is to be delivered is handed to the deliverers (`queued`). */
	queue: boolean;
}

/**
 * Decides whether an accepted run's person was already received within the window, race-free
 * across processes: the identity hashes are locked (transaction-scoped advisory locks, taken in
 * hash order so two claims cannot deadlock), then looked up with a fresh snapshot. The first of a
 * person records its identities; a later one is marked (policy drop: run `duplicate`, sealed lead
 * purged; policy update: run stays `accepted` and names the first) with a `lead_same_person` event,
 * all in the same transaction. Not part of the grouped intake write: runs with no identity (or a
 * window of 0) never come here, and the locks serialise only leads of one person.
 */
export async function claimPerson(
	sql: Sql,
	claim: PersonClaim,
	deadlineMs: number,
): Promise<SamePerson | null> {
	const hashes = [...new Set(claim.identities.map((identity) => identity.hash))].sort();
	if (hashes.length === 0) return null;
	return sql.begin(async (tx) => {
		await tx`SELECT set_config('statement_timeout', ${String(deadlineMs)}, true)`;
		await tx`
			SELECT pg_advisory_xact_lock(k) FROM (
				SELECT hashtextextended(h, 21) AS k FROM unnest(${hashes}::text[]) AS h ORDER BY 1
			) AS keys`;
		const [first] = await tx<{ run_id: string; match: IdentityMatch; idempotency_key: string }[]>`
			SELECT p.run_id, p.match, r.idempotency_key
			FROM person_identities p JOIN runs r ON r.run_id = p.run_id
			WHERE p.identity_hash = ANY(${hashes}::text[])
				AND p.received_at > now() - make_interval(hours => ${claim.windowHours})
				AND p.run_id <> ${claim.runId}
			ORDER BY p.received_at, p.run_id, p.match
			LIMIT 1`;
		if (!first) {
			const rows = claim.identities.map((identity) => ({
				identity_hash: identity.hash,
				match: identity.match,
			}));
			await tx`
				INSERT INTO person_identities (identity_hash, run_id, match)
				SELECT i.identity_hash, ${claim.runId}, i.match
				FROM jsonb_to_recordset(${tx.json(rows)}) AS i(identity_hash text, match text)
				ON CONFLICT DO NOTHING`;
			if (claim.queue) await queueRun(tx, claim.runId);
			return null;
		}
		if (claim.policy === 'drop') {
			await tx`
				UPDATE runs SET status = 'duplicate', duplicate_of = ${first.run_id},
					duplicate_match = ${first.match}, sealed_lead = NULL, updated_at = now()
				WHERE run_id = ${claim.runId} AND status = 'accepted'`;
		} else {
			await tx`
				UPDATE runs SET duplicate_of = ${first.run_id}, duplicate_match = ${first.match},
					updated_at = now()
				WHERE run_id = ${claim.runId} AND status = 'accepted'`;
			if (claim.queue) await queueRun(tx, claim.runId);
		}
		await insertEventRows(tx, [
			{
				run_id: claim.runId,
				correlation_id: claim.correlationId,
				type: 'lead_same_person',
				actor: 'processor',
				payload: { duplicate_of: first.run_id, match: first.match, policy: claim.policy },
			},
		]);
		return {
			duplicateOf: first.run_id,
			firstIdempotencyKey: first.idempotency_key,
			match: first.match,
		};
	}) as Promise<SamePerson | null>;
}

/** The run, held by its request until now, waits for a deliverer (docs/contract.md, answer on store). */
function queueRun(tx: postgres.TransactionSql, runId: string) {
	return tx`UPDATE runs SET status = 'queued', updated_at = now()
		WHERE run_id = ${runId} AND status = 'accepted'`;
}

/** The runs recorded under any of these identity hashes (a person's first runs, for erasure). */
export async function runsWithIdentityHashes(
	sql: Sql,
	hashes: readonly string[],
): Promise<string[]> {
	if (hashes.length === 0) return [];
	const rows = await sql<{ run_id: string }[]>`
		SELECT DISTINCT run_id FROM person_identities
		WHERE identity_hash = ANY(${[...hashes]}::text[]) ORDER BY run_id`;
	return rows.map((row) => row.run_id);
}
