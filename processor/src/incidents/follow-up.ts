import type { DlqIncident } from '../db/incidents.js';
import type { JsonObject } from '../json.js';
import { formatAge } from '../text/durations.js';
import { adviseOn, safeText } from './advice.js';

/*
 * The follow-up alert file: written once when a lead's DLQ item ends (delivered by a retry,
 * closed by an operator, or dead), named after the same run id as the alert that opened it.
 */

const FOLLOW_UP_KIND = 'follow_up';

export function buildFollowUp(
	item: DlqIncident,
	context: { writtenAt: Date; earlierFiles: string[] },
): JsonObject {
	const advice = adviseOn(item, context.writtenAt);
	const endedAt = item.ended_at ?? context.writtenAt;
	const after = formatAge(endedAt.getTime() - item.created_at.getTime());
	const lead = `Lead ${item.run_id}`;
	const summary = advice.needsPerson
		? `${lead} could not be delivered and needs a person. ${advice.happened}`
		: `${lead} is settled, ${after} after it failed: ${lowerFirst(advice.happened)} Nothing is left to do.`;
	// the processor's own words and ids; every text taken from the record passes safeText()
	const document: JsonObject = {
		alert: true,
		kind: FOLLOW_UP_KIND,
		run_id: item.run_id,
		dlq_id: item.dlq_id,
		ending: item.status,
		outcome: advice.outcome,
		needs_person: advice.needsPerson,
		severity: advice.needsPerson ? 'critical' : 'info',
		summary,
		what_to_do: advice.todo,
		reason: safeText(item.reason),
		dead_reason: item.dead_reason === null ? null : safeText(item.dead_reason),
		retries: item.retry_count,
		last_error: item.last_error === null ? null : safeText(item.last_error),
		resolution_note: item.resolution_note === null ? null : safeText(item.resolution_note),
		crm_id: item.crm_id,
		source: safeText(item.source),
		opened_at: item.created_at.toISOString(),
		ended_at: endedAt.toISOString(),
		earlier_alert_files: context.earlierFiles,
		created_at: context.writtenAt.toISOString(),
	};
	return document;
}

/** Whether a parsed alert file is the follow-up of this item's ending (written before a crash). */
export function isFollowUpOf(content: Record<string, unknown> | null, item: DlqIncident): boolean {
	return (
		content?.kind === FOLLOW_UP_KIND &&
		content.dlq_id === item.dlq_id &&
		content.ending === item.status
	);
}

function lowerFirst(text: string): string {
	return text.slice(0, 1).toLowerCase() + text.slice(1);
}
