import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from '../db/connection.js';
import { recordRetention, retentionBatch } from '../db/privacy.js';
import { listAlertFiles } from '../incidents/alert-files.js';
import type { Logger } from '../logger.js';
import type { EventPayloads } from '../vocabulary.js';

/*
 * The retention pass (docs/privacy.md, "How long records are kept"): what is past its window is
 * purged (raw leads of dead items), anonymised (runs with their events, attempts and DLQ items,
 * as an erasure does), deleted (alert files) or cleared (the request kept with a refused
 * signature: client address, headers, body hash). Bounded: batches of `batch`, at most
 * `maxBatches` per pass, each part of a batch one statement that skips the rows another
 * processor's batch or the intake holds, so several processors share the work and the intake is
 * never held up. KPI rows are not touched.
 */

export interface RetentionDeps {
	sql: Sql;
	alertsDir: string;
	now: () => Date;
	logger: Logger;
	/** Windows in days; 0 keeps that kind of record forever. */
	rawLeadDays: number;
	runDays: number;
	alertFileDays: number;
	batch: number;
	maxBatches: number;
}

const DAY_MS = 86_400_000;
const before = (now: Date, days: number) =>
	days > 0 ? new Date(now.getTime() - days * DAY_MS) : null;

export async function applyRetention(
	deps: RetentionDeps,
	correlationId = 'retention',
): Promise<EventPayloads['retention_applied']> {
	const now = deps.now();
	const rawCutoff = before(now, deps.rawLeadDays);
	const runCutoff = before(now, deps.runDays);
	// alert files and the requests kept with refused signatures: incident records, one window
	const incidentCutoff = before(now, deps.alertFileDays);
	const result = {
		raw_leads_purged: 0,
		runs_anonymised: 0,
		alert_files_deleted: 0,
		refused_requests_cleared: 0,
		more: false,
	};
	for (let round = 0; round < deps.maxBatches; round++) {
		const batch = await retentionBatch(deps.sql, {
			rawCutoff,
			runCutoff,
			refusalCutoff: incidentCutoff,
			limit: deps.batch,
		});
		result.raw_leads_purged += batch.rawLeadsPurged;
		result.runs_anonymised += batch.anonymised;
		result.refused_requests_cleared += batch.refusalsCleared;
		const full =
			batch.rawLeadsPurged >= deps.batch ||
			batch.selected >= deps.batch ||
			batch.refusalsCleared >= deps.batch;
		if (!full) break;
		result.more = round === deps.maxBatches - 1;
	}
	if (incidentCutoff) {
		for (const file of await listAlertFiles(deps.alertsDir)) {
			if (file.at >= incidentCutoff) break;
			await rm(join(deps.alertsDir, file.name), { force: true });
			result.alert_files_deleted += 1;
		}
	}
	const removed =
		result.raw_leads_purged +
		result.runs_anonymised +
		result.alert_files_deleted +
		result.refused_requests_cleared;
	if (removed > 0) {
		await recordRetention(deps.sql, result, correlationId);
	}
	return result;
}

/** How long after start the first pass runs: a processor restarted daily must still run it. */
const FIRST_PASS_DELAY_MS = 60_000;

/**
 * Runs the pass a minute after start (or after `intervalMs` if shorter), then every `intervalMs`
 * (0: never); a failure is logged once until it works again.
 */
export function startRetention(
	deps: RetentionDeps,
	intervalMs: number,
	pass: (deps: RetentionDeps) => Promise<EventPayloads['retention_applied']> = applyRetention,
): { stop(): Promise<void> } {
	if (intervalMs <= 0) return { stop: async () => undefined };
	let running: Promise<unknown> = Promise.resolve();
	let failing = false;
	const runPass = () => {
		running = running.then(() =>
			pass(deps).then(
				(result) => {
					failing = false;
					deps.logger.info({ retention: result }, 'retention pass done');
				},
				(error: unknown) => {
					if (!failing) deps.logger.error({ err: error }, 'retention pass failed');
					failing = true;
				},
			),
		);
	};
	let every: NodeJS.Timeout | undefined;
	const first = setTimeout(
		() => {
			runPass();
			every = setInterval(runPass, intervalMs);
			every.unref();
		},
		Math.min(intervalMs, FIRST_PASS_DELAY_MS),
	);
	first.unref();
	return {
		async stop() {
			clearTimeout(first);
			clearInterval(every);
			await running;
		},
	};
}
