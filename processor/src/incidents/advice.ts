import type { DlqIncident } from '../db/incidents.js';
import { maskEmailsIn } from '../pii/sanitize.js';
import { formatAge, formatUtcMinute } from '../text/durations.js';

/*
 * What happened to a lead's DLQ item and what, if anything, a person must do: the words the
 * follow-up files and alerts/index.md share. Pure.
 */

type Outcome =
	| 'waiting_for_retry'
	| 'delivered_by_retry'
	| 'delivered_by_operator_retry'
	| 'closed_by_operator'
	| 'closed_by_erasure'
	| 'superseded'
	| 'dead';

export interface Advice {
	outcome: Outcome;
	needsPerson: boolean;
	/** One sentence: what happened. */
	happened: string;
	/** One line: what to do ("Nothing ..." when nothing). */
	todo: string;
}

export function adviseOn(item: DlqIncident, now: Date): Advice {
	const retries = plural(item.retry_count, 'retry', 'retries');
	const error = item.last_error ? `: ${safeText(item.last_error)}` : '';
	// as an operator finds them in n8n (Lead Intake node, DLQ Item), and the processor's endpoint
	const retry = `n8n: Lead Intake, "Retry DLQ item", DLQ ID ${item.dlq_id}; or POST /internal/dlq/${item.dlq_id}/retry`;
	const resolve = `n8n: Lead Intake, "Resolve DLQ item", DLQ ID ${item.dlq_id}; or POST /internal/dlq/${item.dlq_id}/resolve`;

	if (item.status === 'resolved') {
		if (item.closed_by_erasure) {
			return {
				outcome: 'closed_by_erasure',
				needsPerson: false,
				happened:
					'Closed when the person’s data was erased; it had not been delivered, and nothing is left to send.',
				todo: 'Nothing.',
			};
		}
		if (item.superseded_by !== null) {
			return {
				outcome: 'superseded',
				needsPerson: false,
				happened: `Not sent again: newer details of the same person (run ${item.superseded_by}) reached the CRM first, and this lead would have written its older details over them.`,
				todo: 'Nothing.',
			};
		}
		if (item.delivered_by === null && item.erased) {
			return {
				outcome: 'closed_by_operator',
				needsPerson: false,
				happened:
					'Closed by an operator; the processor did not deliver it. The note went when the person’s data was erased.',
				todo: 'Nothing: an operator has dealt with it.',
			};
		}
		if (item.resolution_note !== null) {
			return {
				outcome: 'closed_by_operator',
				needsPerson: false,
				happened: `Closed by an operator with the note “${safeText(item.resolution_note)}”; the processor did not deliver it.`,
				todo: 'Nothing: an operator has dealt with it.',
			};
		}
		const crm = item.crm_id ? ` (CRM id ${safeText(item.crm_id)})` : '';
		return item.delivered_by === 'operator'
			? {
					outcome: 'delivered_by_operator_retry',
					needsPerson: false,
					happened: `Delivered to the CRM when an operator retried it${crm}.`,
					todo: 'Nothing.',
				}
			: {
					outcome: 'delivered_by_retry',
					needsPerson: false,
					happened: `Delivered to the CRM by automatic retry ${item.retry_count}${crm}.`,
					todo: 'Nothing.',
				};
	}

	if (item.status === 'dead') {
		const why = item.dead_reason ?? item.reason;
		if (why === 'retries_exhausted') {
			return dead(
				`The CRM kept failing through ${retries}${error}.`,
				`Check that the CRM is up again, then retry it (${retry}), or close it with a note (${resolve}).`,
			);
		}
		if (why.startsWith('sealed_lead')) {
			return dead(
				`It cannot be sent again: the stored copy of the lead is ${why === 'sealed_lead_missing' ? 'gone' : 'unreadable'}.`,
				`Ask the lead source (${safeText(item.source)}) to send it again or enter it into the CRM by hand, then close it with a note (${resolve}).`,
			);
		}
		if (/^crm_http_4\d\d$/.test(why)) {
			return dead(
				`The CRM refused it (${safeText(why)}${error}).`,
				`Correct the lead or the CRM mapping, then retry it (${retry}), or close it with a note (${resolve}).`,
			);
		}
		return dead(
			`It could not be delivered (${safeText(why)}${error}).`,
			`Read its history (GET /internal/runs/${item.run_id}), remove the cause, then retry it (${retry}) or close it with a note (${resolve}).`,
		);
	}

	const next =
		item.status === 'retrying'
			? 'it is being retried right now'
			: item.next_retry_at
				? `next attempt ${formatUtcMinute(item.next_retry_at)} (${
						item.next_retry_at.getTime() > now.getTime()
							? `in ${formatAge(item.next_retry_at.getTime() - now.getTime())}`
							: 'due now'
					})`
				: 'the next attempt is not scheduled';
	return {
		outcome: 'waiting_for_retry',
		needsPerson: false,
		happened: `Not delivered yet (${safeText(item.reason)}${error}); ${retries} so far, ${next}.`,
		todo: 'Nothing yet: it is retried automatically, and listed under “Needs a person” if every retry fails.',
	};
}

function dead(happened: string, todo: string): Advice {
	return { outcome: 'dead', needsPerson: true, happened, todo };
}

function plural(count: number, one: string, many: string): string {
	return `${count} ${count === 1 ? one : many}`;
}

/** Text from the record or a file, fit for a one-line note: masked, one line, bounded. */
export function safeText(value: string, maxLength = 300): string {
	const text = maskEmailsIn(value).replace(/\s+/g, ' ').trim();
	return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}
