import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { GuardedCrm } from '../crm/circuit-breaker.js';
import { attemptRecordOf, type DeliveryResult } from '../crm/crm-client.js';
import { toCrmRequest } from './crm-request.js';
import type { AuditEvent } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import type { AttemptRecord } from '../db/delivery-attempts.js';
import { openRunOfPerson, type SamePerson } from '../db/person-identities.js';
import {
	findRepeat,
	olderOfRecordOnItsWay,
	queueAccepted,
	signatureGuardTaken,
	type NewRun,
	type RunWriter,
} from '../db/runs.js';
import { PENDING_DLQ_ID, recordIntakeFailure } from '../db/transitions.js';
import { attemptFailed, dlqCreated, upserted } from '../crm/delivery-events.js';
import { nextRetryAt, type BackoffPolicy } from '../crm/backoff.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LeadCipher } from '../pii/lead-cipher.js';
import { sanitizeHeaders } from '../pii/sanitize.js';
import { parseLeadBody, type LeadLimits } from './lead-body.js';
import type { JsonObject } from '../json.js';
import type { MappingConfig } from './mapping.js';
import { prepareLead, type PreparedLead } from './prepare-lead.js';
import { personIdentities } from './person-identity.js';
import type { RulesHolder } from './ruleset.js';
import { ERR } from '../error-codes.js';
import { countShared, type SharedCount } from '../http/rate-limit.js';

export interface IntakeDeps {
	sql: Sql;
	runs: RunWriter;
	crm: GuardedCrm;
	cipher: LeadCipher;
	/** The rules and CRM mapping in force, swapped when a new version is saved: read once per lead. */
	rules: RulesHolder;
	emailHashSalt: string;
	backoff: BackoffPolicy;
	now: () => Date;
	/** How long an accepted run belongs to its request (then the recovery takes it). */
	acceptedLeaseSeconds: number;
	/** No intake statement waits longer for the database. */
	deadlineMs: number;
	leadLimits: LeadLimits;
	/**
	 * Crash tests only (FAULT_INJECTION on): a lead whose key starts with this stops right after
	 * the CRM answered, before its run is marked processed, so a test can kill the process there.
	 */
	pauseAfterCrmKeyPrefix: string | null;
	/** Crash tests: hold a lead whose key starts with it after its insert, before its same-person check. */
	pauseBeforeSamePersonKeyPrefix?: string | null;
	/** Told when a lead was stored `queued` (answer on store), so a deliverer picks it up now. */
	queued?: () => void;
	/**
	 * How long a lead answered on delivery waits for an older lead of its CRM record (policy
	 * update) still on its way to the CRM before it is queued behind it (config.ts); 0 when absent.
	 */
	turnWaitMs?: number;
}

export interface IntakeRequest {
	rawBody: Buffer;
	/** As stored: personal data in a key is already replaced (pii/idempotency-key.ts). */
	idempotencyKey: string;
	source: string;
	correlationId: string;
	/** The request's headers: sanitized into a DLQ entry (only a failed lead needs them). */
	headers: IncomingHttpHeaders;
	/** `X-Fail-After-Accept: 1` with FAULT_INJECTION on: fail right after accept (DLQ drills). */
	failAfterAccept: boolean;
	/** A legacy signature's guard: it may create one run only. */
	signatureGuard: string | null;
	/**
	 * `Prefer: respond-async`, verified with the derived key: answer 202 once the run is stored
	 * (`queued`); a deliverer delivers it in the background (delivery/deliverer.ts).
	 */
	answerOnStore: boolean;
	/** The shared rate-limit count this request still owes (http/rate-limit.ts), made first. */
	rateCount?: SharedCount | null;
	log: Logger;
}

/** What delivering a run needs to know about the request that brought it. */
export type DeliveryContext = Pick<
	IntakeRequest,
	'idempotencyKey' | 'source' | 'correlationId' | 'headers' | 'log'
>;

export interface IntakeAnswer {
	httpStatus: number;
	runId: string;
	body: JsonObject;
}

/** One signed request: idempotency, rules, delivery and the failure path (docs/contract.md). */
export async function handleLead(deps: IntakeDeps, request: IntakeRequest): Promise<IntakeAnswer> {
	// Past a limit (429) the lead is not even read. The shared count is a statement of its own: its
	// rows (the signer's, the source's) are locked only for it. Made by the statement that stored
	// the lead, they stayed locked for all of it, and every lead of a signer waited for the last.
	await countShared(request.rateCount ?? null);
	const ruleset = deps.rules.current();
	const lead = prepareLead(parseLeadBody(request.rawBody, deps.leadLimits), {
		rules: ruleset.rules,
		emailHashSalt: deps.emailHashSalt,
	});
	const runId = randomUUID();
	const { reasons, missingFields } = lead.verdict;
	const rejected = reasons.length > 0;

	const duplicates = ruleset.duplicates;
	const identities = rejected
		? []
		: personIdentities(lead.normalized, duplicates, deps.emailHashSalt);
	const checkPerson = identities.length > 0 && duplicates.window_hours > 0;
	const run: NewRun = {
		runId,
		idempotencyKey: request.idempotencyKey,
		fingerprint: lead.fingerprint,
		source: request.source,
		correlationId: request.correlationId,
		emailHash: lead.emailHash,
		emailMasked: lead.emailMasked,
		rejection: rejected
			? { reasons, missingFields, message: describeRejection(reasons, missingFields) }
			: null,
		sealedLead: rejected ? null : deps.cipher.encrypt(request.rawBody),
		queued: request.answerOnStore && !rejected,
		signatureGuard: request.signatureGuard,
		rulesVersion: ruleset.version,
		receivedEvent: {
			source: request.source,
			email_hash: lead.emailHash,
			lead: lead.sanitized,
			...(lead.consent ? { consent: lead.consent } : {}),
		},
	};
	let samePerson: SamePerson | null = null;
	let opened: boolean;
	if (!checkPerson) {
		opened = await deps.runs.open(run);
	} else if (testPause(deps.pauseBeforeSamePersonKeyPrefix, request.idempotencyKey)) {
		opened = await storeUncheckedAndHold(deps, request, run);
	} else {
		// stored and checked in one statement: a person's leads are one lead (docs/contract.md)
		({ opened, samePerson } = await openRunOfPerson(
			deps.sql,
			run,
			{
				identities,
				windowHours: duplicates.window_hours,
				policy: duplicates.policy,
			},
			deps.deadlineMs,
		));
	}
	if (!opened) return answerRepeat(deps, request, lead);

	if (rejected) {
		const answer: JsonObject = { status: 'rejected', run_id: runId, reasons };
		if (missingFields.length > 0) answer.missing_fields = missingFields;
		return { httpStatus: 200, runId, body: answer };
	}
	// The same person again (any key, any source) within the window: docs/contract.md.
	if (samePerson && duplicates.policy === 'drop') {
		return {
			httpStatus: 200,
			runId,
			body: {
				status: 'duplicate',
				run_id: runId,
				duplicate_of: samePerson.duplicateOf,
				match: samePerson.match,
			},
		};
	}
	if (request.answerOnStore) {
		deps.queued?.();
		return queuedAnswer(runId);
	}
	if (request.failAfterAccept) {
		return recordFailure(deps, request, runId, lead, {
			reason: 'forced_failure_after_accept',
			message: 'Failure forced after accept (X-Fail-After-Accept)',
			retryable: true,
			retryAfterSeconds: null,
			attempt: null,
		});
	}

	// Policy update: the CRM upserts by key, so the first lead's key updates the first record,
	// after the person's older leads on their way there, so that it keeps the newest details
	if (samePerson && !(await waitForTurn(deps, runId))) {
		await queueAccepted(deps.sql, runId, deps.deadlineMs);
		deps.queued?.();
		return queuedAnswer(runId);
	}
	const crmKey = samePerson?.firstIdempotencyKey ?? request.idempotencyKey;
	return deliverAccepted(deps, request, runId, lead, ruleset.mapping, crmKey);
}

/**
 * Waits, for at most `turnWaitMs`, until no older lead of the run's CRM record is on its way to
 * the CRM (db/runs.ts, olderOfRecordOnItsWay); false when one still is.
 */
async function waitForTurn(deps: IntakeDeps, runId: string): Promise<boolean> {
	const until = performance.now() + (deps.turnWaitMs ?? 0);
	for (let pauseMs = 10; ; pauseMs = Math.min(2 * pauseMs, 200)) {
		if (!(await olderOfRecordOnItsWay(deps.sql, runId, deps.now(), deps.deadlineMs))) return true;
		const left = until - performance.now();
		if (left <= 0) return false;
		await delay(Math.min(pauseMs, left));
	}
}

/** The answer for a run stored `queued`, a deliverer's to deliver (answer on store). */
function queuedAnswer(runId: string): IntakeAnswer {
	return {
		httpStatus: 202,
		runId,
		body: { status: 'accepted', run_status: 'queued', run_id: runId },
	};
}

/**
 * Delivers an `accepted` run this process holds and settles it: `processed` (200 with the CRM's
 * id), or `failed` with a DLQ item (500). The synchronous intake calls it for the request it
 * answers; a deliverer for a queued run it claimed (then nobody reads the answer), and it
 * passes `handBack`: a run the CRM was not called for (calls paused by the circuit breaker)
 * goes back to the queue instead of to the DLQ, and is answered as queued.
 */
export async function deliverAccepted(
	deps: IntakeDeps,
	request: DeliveryContext,
	runId: string,
	lead: PreparedLead,
	mapping: MappingConfig,
	crmKey: string = request.idempotencyKey,
	handBack?: () => Promise<void>,
): Promise<IntakeAnswer> {
	const crmRequest = toCrmRequest(lead.normalized, mapping, runId, crmKey);
	const result = await deps.crm.upsert(crmRequest.body);
	if (!result.ok && result.skipped && handBack) {
		await handBack();
		return queuedAnswer(runId);
	}
	if (!result.ok) {
		return recordFailure(deps, request, runId, lead, {
			reason: result.reason,
			message: result.error,
			retryable: result.retryable,
			retryAfterSeconds: result.retryAfterSeconds,
			attempt: result.skipped
				? null
				: { record: attemptRecordOf(result), events: attemptFailed(result, 'intake') },
		});
	}
	if (testPause(deps.pauseAfterCrmKeyPrefix, request.idempotencyKey)) {
		request.log.warn({ run_id: runId }, 'paused after the CRM call (test pause point)');
		await new Promise<never>(() => undefined);
	}
	const runStatus = await recordDelivery(
		deps,
		request,
		runId,
		result,
		crmRequest.droppedAttributes,
	);
	return {
		httpStatus: 200,
		runId,
		body: { status: 'accepted', run_id: runId, run_status: runStatus, crm_id: result.crmId },
	};
}

/**
 * The CRM has the lead, so the client hears `accepted` whatever happens to this write. If the
 * write fails, or the recovery took the run meanwhile, the run stays in the recovery's hands:
 * it is re-delivered (the CRM upserts by key: still one record) and ends `processed`.
 */
async function recordDelivery(
	deps: IntakeDeps,
	request: DeliveryContext,
	runId: string,
	result: Extract<DeliveryResult, { ok: true }>,
	droppedAttributes: string[],
): Promise<'processed' | 'accepted' | 'failed'> {
	try {
		const applied = await deps.runs.processed({
			runId,
			correlationId: request.correlationId,
			trigger: 'intake',
			attempt: attemptRecordOf(result),
			crmId: result.crmId,
			events: [upserted(result, 'intake', droppedAttributes)],
			fromStatus: 'accepted',
		});
		return applied ? 'processed' : 'failed';
	} catch (error) {
		request.log.error(
			{ err: error, run_id: runId },
			'delivered to the CRM but the run could not be marked processed; the recovery will finish it',
		);
		return 'accepted';
	}
}

async function answerRepeat(
	deps: IntakeDeps,
	request: IntakeRequest,
	lead: PreparedLead,
): Promise<IntakeAnswer> {
	const { idempotencyKey, correlationId, signatureGuard } = request;
	// A repeat asking to be answered on store is answered as soon as the lead is safe, as its first
	// request was: a delivery in flight is the CRM's business, not a reason to make it ask again.
	const inFlightIsRepeat = request.answerOnStore;
	const existing = await findRepeat(deps.sql, {
		idempotencyKey,
		fingerprint: lead.fingerprint,
		correlationId,
		inFlightIsRepeat,
		deadlineMs: deps.deadlineMs,
	});
	if (!existing) {
		if (signatureGuard && (await signatureGuardTaken(deps.sql, signatureGuard, deps.deadlineMs))) {
			throw new HttpError(
				409,
				ERR.signature_replayed,
				'This X-Signature was already used with another idempotency key; sign each request anew',
			);
		}
		throw new Error('the run holding this idempotency key could not be found');
	}
	if (existing.fingerprint !== lead.fingerprint) {
		throw new HttpError(
			422,
			ERR.idempotency_key_reused,
			'X-Idempotency-Key was already used for a different lead',
			{ run_id: existing.runId },
		);
	}
	if (existing.status === 'accepted' && !inFlightIsRepeat) {
		// a deliverer's claim (answered on store, then taken from the queue) runs to its lease
		const leaseEnds =
			existing.leaseUntil?.getTime() ??
			existing.receivedAt.getTime() + deps.acceptedLeaseSeconds * 1000;
		const retryAfter = Math.max(1, Math.ceil((leaseEnds - deps.now().getTime()) / 1000));
		throw new HttpError(
			409,
			ERR.request_in_progress,
			'The first request with this idempotency key is still being delivered; ask again later',
			{ run_id: existing.runId },
			{ 'Retry-After': String(retryAfter) },
		);
	}
	return {
		httpStatus: 200,
		runId: existing.runId,
		body: { status: 'duplicate', run_id: existing.runId, existing_status: existing.status },
	};
}

interface FailureCause {
	reason: string;
	message: string;
	retryable: boolean;
	retryAfterSeconds: number | null;
	/** Absent when no call was made (forced failure, CRM calls paused). */
	attempt: { record: AttemptRecord; events: AuditEvent[] } | null;
}

/**
 * After accept, delivery failed: run `failed`, attempt recorded, DLQ item and its events, one
 * statement. If the recovery took the run meanwhile, it already made the DLQ item.
 */
async function recordFailure(
	deps: IntakeDeps,
	request: DeliveryContext,
	runId: string,
	lead: PreparedLead,
	cause: FailureCause,
): Promise<IntakeAnswer> {
	const dlqStatus = cause.retryable ? 'open' : 'dead';
	const scheduledAt = cause.retryable
		? nextRetryAt(deps.now(), 0, deps.backoff, cause.retryAfterSeconds)
		: null;
	const dlqId = await recordIntakeFailure(
		deps.sql,
		{
			runId,
			correlationId: request.correlationId,
			errorCode: cause.reason,
			errorMessage: cause.message,
			attempt: cause.attempt ? { runId, trigger: 'intake', attempt: cause.attempt.record } : null,
			dlq: {
				reason: cause.reason,
				payload: {
					source: request.source,
					idempotency_key: request.idempotencyKey,
					headers: sanitizeHeaders(request.headers),
					body: lead.sanitized,
				},
				status: dlqStatus,
				nextRetryAt: scheduledAt,
				lastError: cause.message,
			},
			events: [
				...(cause.attempt?.events ?? []),
				...dlqCreated(PENDING_DLQ_ID, cause.reason, dlqStatus, scheduledAt),
			],
		},
		deps.deadlineMs,
	);
	return {
		httpStatus: 500,
		runId,
		body: {
			detail: 'Processing failed; written to DLQ',
			status: 'failed',
			run_id: runId,
			dlq_id: dlqId,
			reason: cause.reason,
			dlq_status: dlqStatus,
		},
	};
}

function describeRejection(reasons: string[], missingFields: string[]): string {
	const missing = missingFields.length > 0 ? ` (missing: ${missingFields.join(', ')})` : '';
	return `Rejected by rules: ${reasons.join(', ')}${missing}`;
}

/**
 * Crash tests only: stores the run `accepted` without its same-person check, as processors
 * before the one-statement check could leave it when they died between their two statements,
 * and holds the request there for the test to kill the process. The recovery must check such a
 * run before it hands it on (intake/interrupted-check.ts).
 */
async function storeUncheckedAndHold(
	deps: IntakeDeps,
	request: IntakeRequest,
	run: NewRun,
): Promise<never> {
	await deps.runs.open({ ...run, queued: false });
	request.log.warn({ run_id: run.runId }, 'paused before the same-person check (test pause point)');
	return new Promise<never>(() => undefined);
}

/** A crash test's pause point applies to this lead (FAULT_INJECTION only: config.ts). */
function testPause(prefix: string | null | undefined, idempotencyKey: string): boolean {
	return Boolean(prefix) && idempotencyKey.startsWith(prefix!);
}
