import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { insertEvents, retentionRemoved } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { computeKpiDays, dlqQueueByReason, type KpiRow } from '../db/kpi.js';
import { writeAtomically } from '../incidents/alert-files.js';
import type { Logger } from '../logger.js';
import { renderTrendCharts } from './charts.js';
import { buildHtmlReport } from './html-report.js';
import { buildCsv, buildReport, type LedgerSummary } from './report.js';

/** The ledger of the leads received in [from, to): where each one stands now. */
type LedgerSource = (range: { from: Date; to: Date }) => Promise<LedgerSummary>;

export interface KpiDeps {
	sql: Sql;
	alertsDir: string;
	now: () => Date;
	logger: Logger;
	/** Null while the ledger is not computed for reports (the report says so). */
	ledger: LedgerSource | null;
}

export interface KpiResult {
	row: KpiRow;
	report_files: string[];
}

/** Days the report's trend covers, the day itself included. */
const TREND_DAYS = 14;

/**
 * POST /internal/kpi/compute-daily: recompute the day and the days of its trend (a late retry
 * changes an earlier day's numbers), audit it, write the stakeholder report: kpi_<day>.md,
 * .csv and .html.
 */
export async function computeDaily(
	deps: KpiDeps,
	day: string,
	correlationId: string,
): Promise<KpiResult> {
	const days = await computeKpiDays(deps.sql, shiftDay(day, -(TREND_DAYS - 1)), day);
	const row = days.at(-1)!;
	const dayStart = new Date(`${day}T00:00:00Z`);
	const dayEnd = new Date(`${shiftDay(day, 1)}T00:00:00Z`);
	const [queue, ledger, retention] = await Promise.all([
		dlqQueueByReason(deps.sql),
		deps.ledger ? deps.ledger({ from: dayStart, to: dayEnd }) : null,
		retentionRemoved(deps.sql, { from: dayStart, to: dayEnd }),
	]);
	if (ledger && !ledger.balanced) {
		deps.logger.error(
			{ day, ledger },
			'the ledger does not balance: some leads of the day are not accounted for',
		);
	}
	const input = { day: row, days, queue, ledger, retention };
	const charts = await renderTrendCharts(days);

	await mkdir(deps.alertsDir, { recursive: true });
	const files = [`kpi_${day}.md`, `kpi_${day}.csv`, `kpi_${day}.html`];
	const contents = [buildReport(input), buildCsv(days), buildHtmlReport(input, charts)];
	for (const [index, file] of files.entries()) {
		await writeAtomically(join(deps.alertsDir, file), contents[index]!);
	}
	await insertEvents(deps.sql, null, correlationId, [
		{
			type: 'kpi_computed',
			actor: 'system',
			payload: {
				day,
				received: row.received_count,
				report_files: files,
				ledger_balanced: ledger?.balanced ?? null,
			},
		},
	]);
	return { row, report_files: files };
}

/** Yesterday in UTC by the processor's clock: the default day to compute. */
export function yesterday(now: Date): string {
	return shiftDay(now.toISOString().slice(0, 10), -1);
}

export function shiftDay(day: string, days: number): string {
	const date = new Date(`${day}T00:00:00Z`);
	date.setUTCDate(date.getUTCDate() + days);
	return date.toISOString().slice(0, 10);
}
