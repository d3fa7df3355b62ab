import type { DeliveryResult } from '../crm/crm-client.js';
import type { AttemptTrigger, AuditEvent, DlqStatus, EventPayloads } from '../vocabulary.js';

/*
 * The audit events of a delivery and of the DLQ item it may leave, built in one place for the
 * intake, the retries and the operators alike.
 */

type Delivered = Extract<DeliveryResult, { ok: true }>;
type NotDelivered = Extract<DeliveryResult, { ok: false }>;

export function upserted(
	result: Delivered,
	trigger: AttemptTrigger,
	droppedAttributes: string[],
): AuditEvent {
	return {
		type: 'crm_upserted',
		actor: 'processor',
		payload: {
			crm_id: result.crmId,
			status_code: result.statusCode,
			duration_ms: result.durationMs,
			trigger,
			dropped_attributes: droppedAttributes,
		},
	};
}

/** A call that was made and failed (a call the circuit breaker held back is no attempt). */
export function attemptFailed(result: NotDelivered, trigger: AttemptTrigger): AuditEvent[] {
	if (result.skipped) return [];
	return [
		{
			type: 'delivery_failed',
			actor: 'processor',
			payload: {
				reason: result.reason,
				status_code: result.statusCode,
				error: result.error,
				trigger,
			},
		},
	];
}

export function dlqCreated(
	dlqId: number,
	reason: string,
	status: DlqStatus,
	nextRetryAt: Date | null,
	actor: 'processor' | 'system' = 'processor',
): AuditEvent[] {
	const created: AuditEvent = {
		type: 'dlq_created',
		actor,
		payload: { dlq_id: dlqId, reason, status, next_retry_at: nextRetryAt?.toISOString() ?? null },
	};
	if (status !== 'dead') return [created];
	return [created, dlqDead({ dlq_id: dlqId, retry_count: 0, reason, status_code: null }, actor)];
}

export function dlqRetried(payload: EventPayloads['dlq_retried']): AuditEvent {
	return { type: 'dlq_retried', actor: 'processor', payload };
}

export function dlqDead(
	payload: EventPayloads['dlq_dead'],
	actor: 'processor' | 'system' = 'processor',
): AuditEvent {
	return { type: 'dlq_dead', actor, payload };
}

export function dlqResolved(payload: EventPayloads['dlq_resolved']): AuditEvent {
	return {
		type: 'dlq_resolved',
		actor: payload.by === 'operator' ? 'operator' : 'processor',
		payload,
	};
}
