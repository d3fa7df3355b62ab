import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from '../db/connection.js';
import {
	claimDueCrmErasures,
	duplicatesOfRuns,
	eraseAndRecord,
	exportRuns,
	pendingCrmErasureOf,
	recordExport,
	runsWithEmailHash,
	sealedLeadsPage,
	settleCrmErasure,
	type ErasureRecord,
} from '../db/privacy.js';
import { createAlertsPass } from '../incidents/alerts-pass.js';
import { listAlertFiles, readAlertJson } from '../incidents/alert-files.js';
import type { Logger } from '../logger.js';
import { identityRunsOf } from '../db/person-identities.js';
import { hashIdentity, normalizePhoneIdentity } from '../intake/person-identity.js';
import { hashEmail, normalizeEmail } from '../pii/email.js';
import type { LeadCipher } from '../pii/lead-cipher.js';
import type { ErasureCounts } from '../vocabulary.js';
import type { CrmEraser } from './crm-eraser.js';

/*
 * A person's data: found, erased, exported (docs/privacy.md). A person is found by the salted
 * hash of their e-mail (every run that had an e-mail keeps it until erased), by the salted phone
 * identity the same-person check keeps for a person's first run, by the phone in the encrypted
 * raw leads still held (a delivered lead's raw copy is gone; its masked phone cannot identify
 * anyone), and through those runs by the later runs marked as the same person again (a repeat
 * by phone with another e-mail only when the phone was asked about).
 */

/** The longest an erasure waits for a row or a table another statement holds: then it is busy. */
export const PRIVACY_LOCK_TIMEOUT_MS = 10_000;

export interface PrivacyDeps {
	sql: Sql;
	cipher: LeadCipher;
	emailHashSalt: string;
	alertsDir: string;
	crm: CrmEraser;
	now: () => Date;
	logger: Logger;
	/** A lead in flight may reach the CRM until its lease runs out: the CRM is asked after that. */
	inFlightSeconds: number;
	/** CRM erasures failed this often are retried after these many seconds (the last repeats). */
	crmBackoffSeconds: readonly number[];
	/** Leads without an e-mail are looked through this many at a time for a phone. */
	scanBatch: number;
	/**
	 * The regions phone numbers written without a country code are read in: the rules in force,
	 * and each saved version's (a run's phone was read in its own version's region).
	 */
	phoneRegions: () => Promise<PhoneRegions>;
}

export interface PhoneRegions {
	current: string;
	byVersion: ReadonlyMap<number, string>;
}

export interface Person {
	email?: string | undefined;
	phone?: string | undefined;
}

const digits = (value: string) => value.replace(/\D/g, '');

/**
 * The salted hashes a person is asked about by: their e-mail's, and their phone's identity as
 * each region a version of the rules used reads it (a national number is another in each).
 */
async function subjectsOf(deps: PrivacyDeps, person: Person) {
	const emailHash = person.email
		? hashEmail(normalizeEmail(person.email), deps.emailHashSalt)
		: null;
	const regions = person.phone ? await deps.phoneRegions() : null;
	const askedIn = new Map(
		[...new Set(regions ? [regions.current, ...regions.byVersion.values()] : [])].map((region) => [
			region,
			normalizePhoneIdentity(person.phone, region),
		]),
	);
	const hashOf = new Map(
		[...new Set(askedIn.values())]
			.filter((e164) => e164 !== null)
			.map((e164) => [e164, hashIdentity('phone', e164, deps.emailHashSalt)]),
	);
	/** The region a run's phone was read in: its rules version's. */
	const regionOf = (version: number | null) =>
		(version === null ? undefined : regions?.byVersion.get(version)) ?? regions?.current ?? '';
	/** The phone asked about, as a run's own rules read it. */
	const askedFor = (version: number | null) => askedIn.get(regionOf(version)) ?? null;
	/** Its identity hash, as a run's own rules stored it. */
	const phoneHashFor = (version: number | null) => hashOf.get(askedFor(version) ?? '') ?? null;
	return { emailHash, phoneHashes: [...hashOf.values()], regionOf, askedFor, phoneHashFor };
}

type Subjects = Awaited<ReturnType<typeof subjectsOf>>;

/** The runs of this person that the processor can still tell are theirs. */
export async function findPerson(deps: PrivacyDeps, person: Person): Promise<string[]> {
	return runsOfPerson(deps, person, await subjectsOf(deps, person));
}

async function runsOfPerson(
	deps: PrivacyDeps,
	person: Person,
	{ emailHash, phoneHashes, regionOf, askedFor, phoneHashFor }: Subjects,
): Promise<string[]> {
	const found = new Set<string>();
	const foundByPhone = new Set<string>();
	// runs stored before addresses were taken in NFC hold the hash of the address as it came
	const storedBefore = person.email
		? [person.email.trim().toLowerCase(), person.email.trim().normalize('NFD').toLowerCase()].map(
				(email) => hashEmail(email, deps.emailHashSalt),
			)
		: [];
	const emailHashes = new Set([...(emailHash === null ? [] : [emailHash]), ...storedBefore]);
	for (const hash of emailHashes) {
		for (const runId of await runsWithEmailHash(deps.sql, hash)) found.add(runId);
	}
	if (person.phone) {
		const wantedDigits = digits(person.phone);
		// each run by its own rules' reading of a national number: another region reads another
		const samePhone = (value: unknown, version: number | null) =>
			(wantedDigits !== '' && digitsOf(value) === wantedDigits) ||
			(askedFor(version) !== null &&
				normalizePhoneIdentity(value, regionOf(version)) === askedFor(version));
		for (const row of await identityRunsOf(deps.sql, phoneHashes)) {
			if (phoneHashFor(row.rules_version) === row.identity_hash) foundByPhone.add(row.run_id);
		}
		let after: string | null = null;
		for (;;) {
			const page = await sealedLeadsPage(deps.sql, after, deps.scanBatch);
			for (const row of page) {
				if (samePhone(openLead(deps.cipher, row.sealed_lead)?.phone, row.rules_version))
					foundByPhone.add(row.run_id);
			}
			if (page.length < deps.scanBatch) break;
			after = page.at(-1)!.run_id;
		}
	}
	for (const runId of foundByPhone) found.add(runId);
	// A repeat matched by phone but carrying another e-mail may be someone else sharing the phone
	// (a household, a switchboard): it is theirs only when that phone is the one asked about.
	for (const repeat of await duplicatesOfRuns(deps.sql, [...found])) {
		const otherEmail = repeat.email_hash !== null && !emailHashes.has(repeat.email_hash);
		if (repeat.duplicate_match === 'phone' && otherEmail && !foundByPhone.has(repeat.duplicate_of))
			continue;
		found.add(repeat.run_id);
	}
	return [...found];
}

function openLead(cipher: LeadCipher, sealed: Buffer): Record<string, unknown> | null {
	try {
		const lead: unknown = JSON.parse(cipher.decrypt(sealed).toString('utf8'));
		return lead !== null && typeof lead === 'object' && !Array.isArray(lead)
			? (lead as Record<string, unknown>)
			: null;
	} catch {
		return null;
	}
}

function digitsOf(value: unknown): string | null {
	return typeof value === 'string' || typeof value === 'number' ? digits(String(value)) : null;
}

export interface ErasureAnswer {
	/** null: nothing was left to erase (no request recorded). */
	erasure_id: number | null;
	erased_at: string;
	requested_by: string;
	run_ids: string[];
	counts: ErasureCounts;
	crm: { status: 'pending' | 'not_needed'; first_attempt_at: string | null };
	nothing_left: boolean;
}

/** Erases everything held about a person; a second call finds nothing left. */
export async function erasePerson(
	deps: PrivacyDeps,
	person: Person,
	request: { requestedBy: string; correlationId: string },
): Promise<ErasureAnswer> {
	const subjects = await subjectsOf(deps, person);
	const candidates = await runsOfPerson(deps, person, subjects);
	const { emailHash, phoneHashes } = subjects;
	const askedSubjects = [...(emailHash === null ? [] : [emailHash]), ...phoneHashes];
	// files first: a failure after them leaves the runs for the next request to erase
	const alertFiles = await deleteAlertFiles(deps, candidates);
	const now = deps.now();
	const { erased, record } = await eraseAndRecord(deps.sql, candidates, {
		lockTimeoutMs: PRIVACY_LOCK_TIMEOUT_MS,
		alertFiles,
		requestedBy: request.requestedBy,
		correlationId: request.correlationId,
		now,
		inFlightSeconds: deps.inFlightSeconds,
		askedSubjects,
	});
	if (record === null) {
		// an earlier request erased the person; its CRM part may still be under way
		const crmNextAt = await pendingCrmErasureOf(deps.sql, askedSubjects);
		return {
			erasure_id: null,
			erased_at: now.toISOString(),
			requested_by: request.requestedBy,
			run_ids: [],
			// files of runs erased before (a request that overlapped this one): nothing to record
			counts: { ...erased.counts, alert_files: alertFiles },
			crm:
				crmNextAt === null
					? { status: 'not_needed', first_attempt_at: null }
					: { status: 'pending', first_attempt_at: crmNextAt.toISOString() },
			nothing_left: true,
		};
	}
	// an alert for one of these leads written meanwhile (routed before the runs were erased); the
	// erasure is committed, so from here on a failure is logged, not answered as one
	await deleteAlertFiles(deps, erased.runIds).catch((error: unknown) =>
		deps.logger.error({ err: error }, 'alert files could not be deleted after an erasure'),
	);
	// the index no longer lists them (the pass rewrites it from the record and the files)
	await createAlertsPass({
		sql: deps.sql,
		alertsDir: deps.alertsDir,
		now: deps.now,
		logger: deps.logger,
	})
		.run()
		.catch((error: unknown) =>
			deps.logger.error({ err: error }, 'alerts/index.md could not be rewritten after an erasure'),
		);
	// this erasure's first CRM attempt (not other people's: they are the background pass's); a
	// failure is the background pass's to retry
	if (record.crm_status === 'pending' && !erased.inFlight)
		await runCrmErasures(deps, { erasureId: record.erasure_id }).catch((error: unknown) =>
			deps.logger.error({ err: error }, 'CRM erasure failed after the erasure; it is retried'),
		);
	return answerOf(record, now);
}

function answerOf(record: ErasureRecord, now: Date): ErasureAnswer {
	return {
		erasure_id: record.erasure_id,
		erased_at: now.toISOString(),
		requested_by: record.requested_by,
		run_ids: record.run_ids,
		counts: record.counts,
		crm: {
			status: record.crm_status === 'not_needed' ? 'not_needed' : 'pending',
			first_attempt_at: record.crm_next_at ? new Date(record.crm_next_at).toISOString() : null,
		},
		nothing_left: false,
	};
}

/** Alert files are named after their run: those of these runs are deleted. */
async function deleteAlertFiles(deps: PrivacyDeps, runIds: string[]): Promise<number> {
	if (runIds.length === 0) return 0;
	const ids = new Set(runIds);
	let deleted = 0;
	for (const file of await listAlertFiles(deps.alertsDir)) {
		if (!file.isRunId || !ids.has(file.id)) continue;
		await rm(join(deps.alertsDir, file.name), { force: true });
		deleted += 1;
	}
	return deleted;
}

/**
 * Asks the CRM to erase the records of due erasures. A failure is retried with backoff, like a
 * delivery; the erasure stays `pending` (GET /internal/privacy/erasures) until the CRM confirms.
 */
export async function runCrmErasures(
	deps: PrivacyDeps,
	options: { limit?: number; erasureId?: number } = {},
): Promise<number> {
	const due = await claimDueCrmErasures(deps.sql, {
		now: deps.now(),
		leaseSeconds: 120,
		limit: options.limit ?? 20,
		erasureId: options.erasureId,
	});
	let done = 0;
	for (const erasure of due) {
		let error: string | null = null;
		for (const key of erasure.crm_keys) {
			const result = await deps.crm.erase(key);
			if (!result.ok) {
				error = result.error;
				break;
			}
		}
		const schedule = deps.crmBackoffSeconds;
		const delay = schedule[Math.min(erasure.crm_attempts, schedule.length - 1)] ?? 60;
		await settleCrmErasure(
			deps.sql,
			erasure.erasure_id,
			error === null
				? { ok: true }
				: { ok: false, error, nextAt: new Date(deps.now().getTime() + delay * 1000) },
			`privacy-${erasure.erasure_id}`,
		);
		if (error === null) done += 1;
		else
			deps.logger.warn(
				{ erasure_id: erasure.erasure_id, error },
				'CRM erasure failed; it is retried',
			);
	}
	return done;
}

/** Everything held about a person, in one document (docs/privacy.md, "Access"). */
export async function exportPerson(
	deps: PrivacyDeps,
	person: Person,
	request: { requestedBy: string; correlationId: string },
) {
	const runIds = await findPerson(deps, person);
	const held = await exportRuns(deps.sql, runIds);
	const ids = new Set(runIds);
	const files =
		runIds.length === 0
			? []
			: (await listAlertFiles(deps.alertsDir)).filter((file) => file.isRunId && ids.has(file.id));
	// what the files say about the person too: an erasure deletes them
	const alerts = await Promise.all(
		files.map(async (file) => ({
			file: file.name,
			content: await readAlertJson(deps.alertsDir, file.name),
		})),
	);
	await recordExport(
		deps.sql,
		{ requested_by: request.requestedBy, run_ids: runIds },
		request.correlationId,
	);
	return {
		exported_at: deps.now().toISOString(),
		runs: held.runs.map(({ sealed_lead, ...run }) => ({
			...run,
			lead: sealed_lead ? openLead(deps.cipher, sealed_lead as Buffer) : null,
		})),
		events: held.events,
		attempts: held.attempts,
		dlq: held.dlq,
		identities: held.identities,
		outcome_events: held.outcomeEvents,
		alert_files: files.map((file) => file.name),
		alerts,
	};
}

/** Drives pending CRM erasures every `intervalMs` (0: never). */
export function startCrmErasures(deps: PrivacyDeps, intervalMs: number): { stop(): Promise<void> } {
	if (intervalMs <= 0) return { stop: async () => undefined };
	let running: Promise<unknown> = Promise.resolve();
	let failing = false;
	const timer = setInterval(() => {
		running = running.then(() =>
			runCrmErasures(deps).then(
				() => {
					failing = false;
				},
				(error: unknown) => {
					if (!failing) deps.logger.error({ err: error }, 'CRM erasure pass failed');
					failing = true;
				},
			),
		);
	}, intervalMs);
	timer.unref();
	return {
		async stop() {
			clearInterval(timer);
			await running;
		},
	};
}
