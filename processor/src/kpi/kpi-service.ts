import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { insertEvents } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { openDlqByReason } from '../db/dlq.js';
import { computeKpiDay, readKpiRange, type KpiRow } from '../db/kpi.js';
import { buildCsv, buildReport } from './report.js';

export interface KpiDeps {
	sql: Sql;
	alertsDir: string;
	now: () => Date;
}

export interface KpiResult {
	row: KpiRow;
	report_files: string[];
}

/** POST /internal/kpi/compute-daily: recompute the day, audit it, write the stakeholder report. */
export async function computeDaily(
	deps: KpiDeps,
	day: string,
	correlationId: string,
): Promise<KpiResult> {
	const row = await computeKpiDay(deps.sql, day);
	const [previous, openByReason] = await Promise.all([
		readKpiRange(deps.sql, shiftDay(day, -7), shiftDay(day, -1)),
		openDlqByReason(deps.sql),
	]);
	await mkdir(deps.alertsDir, { recursive: true });
	const files = [`kpi_${day}.md`, `kpi_${day}.csv`];
	await writeAtomically(
		join(deps.alertsDir, files[0]!),
		buildReport({ day: row, previous, openDlqByReason: openByReason }),
	);
	await writeAtomically(join(deps.alertsDir, files[1]!), buildCsv([...previous, row]));
	await insertEvents(deps.sql, null, correlationId, [
		{
			type: 'kpi_computed',
			actor: 'system',
			payload: { day, received: row.received_count, report_files: files },
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

/** A reader never sees half a report: write aside, then rename over. */
async function writeAtomically(path: string, content: string): Promise<void> {
	const temporary = `${path}.${process.pid}.tmp`;
	await writeFile(temporary, content);
	await rename(temporary, path);
}
