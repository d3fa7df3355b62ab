import type { KpiRow, QueueByReason } from '../db/kpi.js';
import { formatDuration } from '../text/durations.js';

/*
 * The daily stakeholder report: pure text built from KPI rows, so it is tested without a
 * database. Readers are not technical: words first, numbers with rates. Its first line says
 * whether every lead of the day is accounted for.
 */

/**
 * Where every lead received in a time range stands (GET /internal/stats/ledger). It balances
 * when stuck + unaccounted = 0, i.e. received = processed + rejected + same_person + waiting +
 * dead + resolved_manually + superseded + queued + in_flight + erased; duplicates (the same request again)
 * are counted apart.
 */
import type { RetentionRemoved } from '../db/audit-events.js';
import type { LedgerSummary } from '../db/ledger.js';

export type { LedgerSummary };

export type { RetentionRemoved };

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** The report's sentence on what retention removed this day (counts only: no person). */
export function retentionLine(removed: RetentionRemoved): string {
	const {
		raw_leads_purged: raw,
		runs_anonymised: runs,
		alert_files_deleted: files,
		refused_requests_cleared: refusals,
	} = removed;
	if (raw + runs + files + refusals === 0) return 'Nothing was past its retention window this day.';
	// the refusals are named only when there were any: most days have none
	const cleared =
		refusals > 0 ? `, the request kept with ${plural(refusals, 'refused signature')} cleared` : '';
	return `Past their retention window this day: ${plural(runs, 'run')} anonymised (with their events, attempts and DLQ items), ${plural(raw, 'raw lead')} of dead items purged, ${plural(files, 'alert file')} deleted${cleared}. The KPI rows keep their counts.`;
}

export interface ReportInput {
	/** The day of the report: the last of `days`. */
	day: KpiRow;
	/** The days of the trend, oldest first, ending with the day itself. */
	days: KpiRow[];
	/** The leads in the retry queue now, by reason. */
	queue: QueueByReason[];
	/** Null until the ledger is computed for reports. */
	ledger: LedgerSummary | null;
	/** What the retention passes of the day removed (docs/privacy.md); absent: not asked. */
	retention?: RetentionRemoved;
}

/** Days before the report's day that its table compares with. */
export const COMPARED_DAYS = 7;

export type LedgerVerdict = 'balanced' | 'unbalanced' | 'unknown';

/** The report's first sentence: is every lead of the day accounted for? */
export function ledgerLine(
	day: string,
	ledger: LedgerSummary | null,
): { verdict: LedgerVerdict; text: string } {
	if (ledger === null) {
		return {
			verdict: 'unknown',
			text: `Ledger not computed: this report cannot say whether every lead received on ${day} is accounted for.`,
		};
	}
	const parts = [
		`${ledger.processed} delivered`,
		`${ledger.rejected} rejected`,
		`${ledger.same_person} the same person again`,
		`${ledger.waiting} waiting for a retry`,
		`${ledger.dead} dead`,
		`${ledger.resolved_manually} resolved by hand`,
		`${ledger.queued} queued`,
		`${ledger.in_flight} in flight`,
		// rare, so named only when there are some
		...(ledger.superseded > 0
			? [`${ledger.superseded} not sent again (newer details delivered first)`]
			: []),
		...(ledger.erased > 0 ? [`${ledger.erased} erased before delivery`] : []),
	].join(' + ');
	const duplicates = `the same request again, counted apart: ${ledger.duplicates}`;
	if (ledger.balanced) {
		return {
			verdict: 'balanced',
			text: `Every lead received on ${day} is accounted for: ${ledger.received} received = ${parts} (${duplicates}).`,
		};
	}
	const missing = ledger.stuck + ledger.unaccounted;
	return {
		verdict: 'unbalanced',
		text:
			`The ledger does NOT balance for ${day}: ${missing} of ${ledger.received} leads ${missing === 1 ? 'is' : 'are'} not accounted for ` +
			`(${ledger.stuck} stuck in flight past their lease, ${ledger.unaccounted} unaccounted for); ` +
			`the others: ${parts} (${duplicates}). Tell the engineer on call.`,
	};
}

/** One measure of the day's table, shared by the Markdown and the HTML report. */
export interface Measure {
	key: string;
	label: string;
	value: number;
	/** Share of the day's received leads, when that means something. */
	share: string | null;
	/** The same measure on the days before, in words. */
	compared: string;
}

export function dayMeasures({ day, days }: ReportInput): Measure[] {
	const previous = days.slice(0, -1).slice(-COMPARED_DAYS);
	const rate = (count: number) =>
		day.received_count === 0 ? '–' : `${((count / day.received_count) * 100).toFixed(1)} %`;
	const compare = (value: number, pick: (row: KpiRow) => number) => {
		if (previous.length === 0) return 'no earlier days yet';
		const mean = previous.reduce((sum, row) => sum + pick(row), 0) / previous.length;
		const delta = value - mean;
		return `${mean.toFixed(1)} on average${delta === 0 ? ' (same)' : ` (${delta > 0 ? '+' : ''}${delta.toFixed(1)})`}`;
	};
	const measure = (
		key: keyof KpiRow & `${string}_count`,
		label: string,
		withShare: boolean,
	): Measure => ({
		key,
		label,
		value: day[key],
		share: withShare ? rate(day[key]) : null,
		compared: compare(day[key], (row) => row[key]),
	});
	return [
		measure('received_count', 'leads received', false),
		measure('processed_count', 'delivered to the CRM (processed)', true),
		measure('rejected_count', 'refused by the rules (rejected)', true),
		measure('failed_count', 'not delivered yet (failed)', true),
		measure('duplicate_count', 'the same request again (sent twice by a source)', false),
		measure('same_person_count', 'the same person again (another request)', true),
		measure('dlq_open_count', 'still waiting in the retry queue', false),
	];
}

export function summarySentence(day: KpiRow): string {
	if (day.received_count === 0) return 'No leads arrived on this day.';
	const verb = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
	return (
		`${verb(day.received_count, 'lead arrived', 'leads arrived')}; ${day.processed_count} reached the CRM, ` +
		`${verb(day.rejected_count, 'was', 'were')} refused by the rules and ` +
		`${verb(day.failed_count, 'is', 'are')} not delivered yet.`
	);
}

/** `210 ms`, or a dash for a day without delivered leads. */
export function durationText(ms: number | null): string {
	return ms === null ? '–' : formatDuration(ms);
}

export function buildReport(input: ReportInput): string {
	const { day, queue } = input;
	const lines = [
		`**${ledgerLine(day.day, input.ledger).text}**`,
		'',
		`# Lead Intake daily report — ${day.day} (UTC)`,
		'',
		summarySentence(day),
		'',
		`| measure | this day | share of received | previous ${COMPARED_DAYS} days |`,
		'| --- | ---: | ---: | --- |',
		...dayMeasures(input).map(
			(item) => `| ${item.label} | ${item.value} | ${item.share ?? ''} | ${item.compared} |`,
		),
		'',
		'## Time from intake to CRM',
		'',
		'Of the leads received this day that reached the CRM, from the moment the processor received',
		'each one to the moment the CRM confirmed it (retries included):',
		'',
		`- half of them took at most **${durationText(day.p50_processing_ms)}** (median, p50);`,
		`- 95 % took at most **${durationText(day.p95_processing_ms)}** (p95): the slowest 5 % waited longer.`,
		'',
		'## Leads in the retry queue now, by reason',
		'',
		...(queue.length === 0
			? ['None: every failed lead was delivered or closed.']
			: [
					'| reason | waiting for a retry | dead (needs a person) |',
					'| --- | ---: | ---: |',
					...queue.map((item) => `| ${item.reason} | ${item.waiting} | ${item.dead} |`),
				]),
		'',
		...(input.retention ? ['## Removed by retention', '', retentionLine(input.retention), ''] : []),
		`The trend of the last ${input.days.length} days is drawn in kpi_${day.day}.html; kpi_${day.day}.csv holds those daily rows.`,
		`Computed at ${day.computed_at.toISOString()}.`,
		'',
	];
	return lines.join('\n');
}

export const CSV_HEADER =
	'day,received,processed,rejected,failed,duplicates,same_person,dlq_open,avg_processing_ms,p50_processing_ms,p95_processing_ms';

/** The KPI rows as CSV, oldest first. */
export function buildCsv(rows: KpiRow[]): string {
	const lines = rows.map((row) =>
		[
			row.day,
			row.received_count,
			row.processed_count,
			row.rejected_count,
			row.failed_count,
			row.duplicate_count,
			row.same_person_count,
			row.dlq_open_count,
			row.avg_processing_ms ?? '',
			row.p50_processing_ms ?? '',
			row.p95_processing_ms ?? '',
		].join(','),
	);
	return `${[CSV_HEADER, ...lines].join('\n')}\n`;
}
