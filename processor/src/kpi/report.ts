import type { KpiRow } from '../db/kpi.js';

/*
 * The daily stakeholder report (seed 004's export, per day): pure text built from KPI rows,
 * so it is tested without a database. Readers are not technical: words first, numbers with rates.
 */

export interface ReportInput {
	day: KpiRow;
	/** Up to seven days before it, oldest first (days never computed are simply absent). */
	previous: KpiRow[];
	openDlqByReason: { reason: string; count: number }[];
}

export function buildReport({ day, previous, openDlqByReason }: ReportInput): string {
	const rate = (count: number) =>
		day.received_count === 0 ? '–' : `${((count / day.received_count) * 100).toFixed(1)} %`;
	const average = (pick: (row: KpiRow) => number) =>
		previous.length === 0
			? null
			: previous.reduce((sum, row) => sum + pick(row), 0) / previous.length;
	const compare = (value: number, pick: (row: KpiRow) => number) => {
		const mean = average(pick);
		if (mean === null) return 'no earlier days yet';
		const delta = value - mean;
		return `${mean.toFixed(1)} on average${delta === 0 ? ' (same)' : ` (${delta > 0 ? '+' : ''}${delta.toFixed(1)})`}`;
	};
	const lines = [
		`# Lead Intake daily report — ${day.day} (UTC)`,
		'',
		summarySentence(day),
		'',
		'| measure | this day | share of received | previous 7 days |',
		'| --- | ---: | ---: | --- |',
		`| leads received | ${day.received_count} | | ${compare(day.received_count, (row) => row.received_count)} |`,
		`| delivered to the CRM (processed) | ${day.processed_count} | ${rate(day.processed_count)} | ${compare(day.processed_count, (row) => row.processed_count)} |`,
		`| refused by the rules (rejected) | ${day.rejected_count} | ${rate(day.rejected_count)} | ${compare(day.rejected_count, (row) => row.rejected_count)} |`,
		`| not delivered yet (failed) | ${day.failed_count} | ${rate(day.failed_count)} | ${compare(day.failed_count, (row) => row.failed_count)} |`,
		`| sent twice by a source (duplicates) | ${day.duplicate_count} | | ${compare(day.duplicate_count, (row) => row.duplicate_count)} |`,
		`| still waiting in the retry queue | ${day.dlq_open_count} | | ${compare(day.dlq_open_count, (row) => row.dlq_open_count)} |`,
		`| average time to deliver | ${day.avg_processing_ms === null ? '–' : `${day.avg_processing_ms} ms`} | | |`,
		'',
		'## Leads waiting for another delivery attempt, by reason (now)',
		'',
		...(openDlqByReason.length === 0
			? ['None: every failed lead was delivered or closed.']
			: openDlqByReason.map((item) => `- ${item.reason}: ${item.count}`)),
		'',
		`Computed at ${day.computed_at.toISOString()}. The CSV file of the same name holds these rows.`,
		'',
	];
	return lines.join('\n');
}

function summarySentence(day: KpiRow): string {
	if (day.received_count === 0) return 'No leads arrived on this day.';
	return (
		`${day.received_count} leads arrived; ${day.processed_count} reached the CRM, ` +
		`${day.rejected_count} were refused by the rules and ${day.failed_count} are not delivered yet.`
	);
}

/** The KPI rows as CSV (the previous days and the day itself, oldest first). */
export function buildCsv(rows: KpiRow[]): string {
	const header = 'day,received,processed,rejected,failed,duplicates,dlq_open,avg_processing_ms';
	const lines = rows.map((row) =>
		[
			row.day,
			row.received_count,
			row.processed_count,
			row.rejected_count,
			row.failed_count,
			row.duplicate_count,
			row.dlq_open_count,
			row.avg_processing_ms ?? '',
		].join(','),
	);
	return `${[header, ...lines].join('\n')}\n`;
}
