import { randomUUID } from 'node:crypto';
import { attemptRecordOf, type CrmClient } from '../crm/crm-client.js';
import { toCrmRequest } from '../crm/crm-request.js';
import type { AuditEvent } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { findDuplicate, markFailed, type AttemptRecord, type RunWriter } from '../db/runs.js';
import { nextRetryAt, type BackoffPolicy } from '../dlq/backoff.js';
import { HttpError } from '../errors.js';
import type { LeadCipher } from '../pii/lead-cipher.js';
import type { JsonObject } from './lead-schema.js';
import type { MappingConfig } from './mapping.js';
import { parseLeadBody, prepareLead, type LeadPolicy, type PreparedLead } from './prepare-lead.js';

export interface IntakeDeps {
	sql: Sql;
	runs: RunWriter;
	crm: CrmClient;
	cipher: LeadCipher;
	policy: LeadPolicy;
	mapping: MappingConfig;
	backoff: BackoffPolicy;
	now: () => Date;
}

export interface IntakeRequest {
	rawBody: Buffer;
	idempotencyKey: string;
	source: string;
	correlationId: string;
	/** Sanitized request headers, kept with a DLQ entry for investigation. */
	headers: Record<string, string>;
	/** `X-Fail-After-Accept: 1` with FAULT_INJECTION on: fail right after accept (DLQ drills). */
	failAfterAccept: boolean;
}

export interface IntakeAnswer {
	httpStatus: number;
	runId: string;
	body: JsonObject;
}

/** SPEC 3.2-3.5: idempotency, rules, delivery and the failure path for one signed request. */
export async function handleLead(deps: IntakeDeps, request: IntakeRequest): Promise<IntakeAnswer> {
	const body = parseLeadBody(request.rawBody);
	const lead = prepareLead(body, deps.policy);
	const runId = randomUUID();
	const { reasons, missingFields } = lead.verdict;
	const rejected = reasons.length > 0;

	const opened = await deps.runs.open({
		runId,
		idempotencyKey: request.idempotencyKey,
		fingerprint: lead.fingerprint,
		source: request.source,
		correlationId: request.correlationId,
		emailHash: lead.emailHash,
		emailMasked: lead.emailMasked,
		rejection: rejected
			? {
					reasons,
					message: describeRejection(reasons, missingFields),
					event: { reasons, missing_fields: missingFields },
				}
			: null,
		sealedLead: rejected ? null : deps.cipher.encrypt(request.rawBody),
		receivedEvent: { source: request.source, email_hash: lead.emailHash, lead: lead.sanitized },
	});
	if (!opened) return answerRepeat(deps.sql, request, lead);

	if (rejected) {
		const answer: JsonObject = { status: 'rejected', run_id: runId, reasons };
		if (missingFields.length > 0) answer.missing_fields = missingFields;
		return { httpStatus: 200, runId, body: answer };
	}
	if (request.failAfterAccept) {
		return recordFailure(deps, request, runId, lead, {
			reason: 'forced_failure_after_accept',
			message: 'Failure forced after accept (X-Fail-After-Accept)',
			retryable: true,
			attempt: null,
		});
	}

	const crmRequest = toCrmRequest(lead.normalized, deps.mapping, runId, request.idempotencyKey);
	const result = await deps.crm.upsert(crmRequest.body);
	if (!result.ok) {
		return recordFailure(deps, request, runId, lead, {
			reason: result.reason,
			message: result.error,
			retryable: result.retryable,
			attempt: attemptRecordOf(result),
		});
	}
	await deps.runs.processed({
		runId,
		correlationId: request.correlationId,
		trigger: 'intake',
		attempt: attemptRecordOf(result),
		crmId: result.crmId,
		events: [
			{
				type: 'crm_upserted',
				actor: 'processor',
				payload: {
					crm_id: result.crmId,
					status_code: result.statusCode,
					duration_ms: result.durationMs,
					dropped_attributes: crmRequest.droppedAttributes,
				},
			},
		],
	});
	return {
		httpStatus: 200,
		runId,
		body: { status: 'accepted', run_id: runId, run_status: 'processed', crm_id: result.crmId },
	};
}

async function answerRepeat(
	sql: Sql,
	request: IntakeRequest,
	lead: PreparedLead,
): Promise<IntakeAnswer> {
	const existing = await findDuplicate(
		sql,
		request.idempotencyKey,
		lead.fingerprint,
		request.correlationId,
	);
	if (existing.fingerprint !== lead.fingerprint) {
		throw new HttpError(
			422,
			'idempotency_key_reused',
			'X-Idempotency-Key was already used for a different lead',
			{ run_id: existing.runId },
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
	attempt: AttemptRecord | null;
}

async function recordFailure(
	deps: IntakeDeps,
	request: IntakeRequest,
	runId: string,
	lead: PreparedLead,
	cause: FailureCause,
): Promise<IntakeAnswer> {
	const dlqStatus = cause.retryable ? 'open' : 'dead';
	const scheduledAt = cause.retryable ? nextRetryAt(deps.now(), 0, deps.backoff) : null;
	const events: AuditEvent[] = [];
	if (cause.attempt) {
		events.push({
			type: 'delivery_failed',
			actor: 'processor',
			payload: {
				reason: cause.reason,
				status_code: cause.attempt.statusCode,
				error: cause.message,
			},
		});
	}
	events.push({
		type: 'dlq_created',
		actor: 'processor',
		payload: {
			reason: cause.reason,
			status: dlqStatus,
			next_retry_at: scheduledAt?.toISOString() ?? null,
		},
	});
	if (!cause.retryable) {
		events.push({ type: 'dlq_dead', actor: 'processor', payload: { reason: cause.reason } });
	}

	const dlqId = await markFailed(deps.sql, {
		runId,
		correlationId: request.correlationId,
		errorCode: cause.reason,
		errorMessage: cause.message,
		attempt: cause.attempt,
		dlq: {
			reason: cause.reason,
			payload: {
				source: request.source,
				idempotency_key: request.idempotencyKey,
				headers: request.headers,
				body: lead.sanitized,
			},
			status: dlqStatus,
			nextRetryAt: scheduledAt,
			lastError: cause.message,
		},
		events,
	});
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
