import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from '../db/connection.js';
import {
	existingRunIds,
	releaseIndexLease,
	takeIndexLease,
	readIncidentState,
	settleFollowUps,
	type DlqIncident,
} from '../db/incidents.js';
import type { Logger } from '../logger.js';
import {
	createAlertFile,
	listAlertFiles,
	parseAlertFileName,
	readAlertJson,
	writeAtomically,
	type AlertFile,
} from './alert-files.js';
import { buildFollowUp, isFollowUpOf } from './follow-up.js';
import {
	bodyOfIndex,
	buildIndexBody,
	INDEX_FILE,
	renderIndex,
	type StrayAlert,
} from './index-page.js';

/*
 * The alerts pass: writes the follow-up file of every DLQ item that ended, then rewrites
 * alerts/index.md when anything on it changed. It depends on no code path that settles items
 * (it reads their state), runs at processor start and then periodically, and any number of
 * processors may run it against one database and one folder.
 */

export interface AlertsPassDeps {
	sql: Sql;
	alertsDir: string;
	now: () => Date;
	logger: Logger;
}

interface AlertsPassResult {
	/** Follow-up files written (or found written by a pass that crashed before recording them). */
	followUps: string[];
	indexWritten: boolean;
}

export interface AlertsPass {
	run(): Promise<AlertsPassResult>;
	/** Only the index step: after an alert file was written (POST /internal/alerts). */
	refreshIndex(): Promise<boolean>;
}

const FOLLOW_UP_BATCH = 100;
/** Bounded work per pass; what is left is done by the next one. */
const MAX_FOLLOW_UP_BATCHES = 20;
const WINDOW_DAYS = 7;
/** Entries per section of index.md; the rest are counted. */
const SECTION_LIMIT = 100;
/** Newest alert files not on the lists that are checked against the record per pass. */
const UNLISTED_LIMIT = 1000;
const DAY_MS = 86_400_000;
/** How long a claimed follow-up stays this pass's before another pass may take it. */
const FOLLOW_UP_LEASE_SECONDS = 120;
/** How long the index is one pass's to rewrite, and how long another pass waits for its turn. */
const INDEX_LEASE_SECONDS = 60;
const INDEX_WAIT_MS = 10_000;

export function createAlertsPass(deps: AlertsPassDeps): AlertsPass {
	// alert files never change once written: what a stray one says is read once
	let strayCache = new Map<string, StrayAlert>();

	async function writeFollowUps(items: DlqIncident[]): Promise<Map<number, string>> {
		const written = new Map<number, string>();
		const filesByRun = groupByRun(await listAlertFiles(deps.alertsDir));
		const now = deps.now();
		let failure: unknown = null;
		for (const item of items) {
			try {
				const runFiles = filesByRun.get(item.run_id) ?? [];
				const name =
					(await findFollowUp(runFiles, item)) ?? (await createFollowUp(item, runFiles, now));
				written.set(item.dlq_id, name);
				if (!runFiles.some((file) => file.name === name)) {
					runFiles.push(parseAlertFileName(name)!);
					filesByRun.set(item.run_id, runFiles);
				}
			} catch (error) {
				failure ??= error;
			}
		}
		// none written (the folder is not writable, say): fail the pass, which is logged once
		if (failure && written.size === 0) throw failure;
		if (failure) {
			deps.logger.error(
				{ err: failure, failed: items.length - written.size },
				'could not write some follow-up alert files; they stay due',
			);
		}
		return written;
	}

	/** A follow-up written by a pass that crashed before its claim committed. */
	async function findFollowUp(runFiles: AlertFile[], item: DlqIncident): Promise<string | null> {
		for (const file of runFiles) {
			if (isFollowUpOf(await readAlertJson(deps.alertsDir, file.name), item)) return file.name;
		}
		return null;
	}

	async function createFollowUp(item: DlqIncident, runFiles: AlertFile[], now: Date) {
		// later than every alert of the run, so the folder reads in order
		const latest = runFiles.at(-1)?.at.getTime() ?? 0;
		const second = Math.floor(now.getTime() / 1000) * 1000;
		const at = new Date(Math.max(second, latest + 1000));
		const document = buildFollowUp(item, {
			writtenAt: now,
			earlierFiles: runFiles.map((file) => file.name),
		});
		return createAlertFile(
			deps.alertsDir,
			at,
			item.run_id,
			`${JSON.stringify(document, null, 2)}\n`,
		);
	}

	async function followUpsDue(): Promise<string[]> {
		const files: string[] = [];
		for (let batch = 0; batch < MAX_FOLLOW_UP_BATCHES; batch++) {
			const settled = await settleFollowUps(
				deps.sql,
				{ limit: FOLLOW_UP_BATCH, leaseSeconds: FOLLOW_UP_LEASE_SECONDS, token: randomUUID() },
				writeFollowUps,
			);
			files.push(...settled.written.map((entry) => entry.file));
			for (const name of settled.erasedMeanwhile) {
				await rm(join(deps.alertsDir, name), { force: true });
			}
			if (settled.written.length + settled.erasedMeanwhile.length < FOLLOW_UP_BATCH) break;
		}
		return files;
	}

	/**
	 * Rewrites index.md when its content changed, written aside and renamed over. Passes of
	 * several processors take turns (a lease in the database), so the last one to write is the
	 * last one to read.
	 */
	async function refreshIndex(): Promise<boolean> {
		const holder = randomUUID();
		for (
			let waited = 0;
			!(await takeIndexLease(deps.sql, holder, INDEX_LEASE_SECONDS));
			waited += 100
		) {
			if (waited >= INDEX_WAIT_MS) {
				// what changed since that pass read the record (an erasure, say) waits for the next one
				deps.logger.warn(
					{ waited_ms: waited },
					'alerts/index.md is held by another pass; it is rewritten at the next pass',
				);
				return false;
			}
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		try {
			return await rewriteIndex();
		} finally {
			await releaseIndexLease(deps.sql, holder);
		}
	}

	async function rewriteIndex(): Promise<boolean> {
		const now = deps.now();
		const since = new Date(now.getTime() - WINDOW_DAYS * DAY_MS);
		const state = await readIncidentState(deps.sql, {
			since,
			signaturesSince: new Date(now.getTime() - DAY_MS),
			limit: SECTION_LIMIT,
		});
		const files = await listAlertFiles(deps.alertsDir);
		const listed = new Set([
			...[...state.dead, ...state.waiting, ...state.resolved].map((item) => item.run_id),
			...state.rejected.map((lead) => lead.run_id),
		]);
		const unlisted = files
			.filter((file) => file.at >= since && !listed.has(file.id))
			.slice(-UNLISTED_LIMIT);
		const known = await existingRunIds(deps.sql, [
			...new Set(unlisted.filter((file) => file.isRunId).map((file) => file.id)),
		]);
		// alerts whose id names no lead in the record, newest first
		const strayFiles = unlisted.filter((file) => !known.has(file.id)).reverse();
		const stray = await readStray(strayFiles.slice(0, SECTION_LIMIT));

		const body = buildIndexBody({
			now,
			windowDays: WINDOW_DAYS,
			limit: SECTION_LIMIT,
			state,
			filesByRun: groupByRun(files),
			stray,
			strayTotal: strayFiles.length,
		});
		const path = join(deps.alertsDir, INDEX_FILE);
		const current = await readFile(path, 'utf8').catch(() => null);
		if (current !== null && bodyOfIndex(current) === body) return false;
		await writeAtomically(path, renderIndex(body, now));
		return true;
	}

	async function readStray(files: AlertFile[]): Promise<StrayAlert[]> {
		const next = new Map<string, StrayAlert>();
		for (const file of files) {
			let alert = strayCache.get(file.name);
			if (!alert) {
				const content = await readAlertJson(deps.alertsDir, file.name);
				alert = {
					file,
					summary: typeof content?.summary === 'string' ? content.summary : null,
					severity: typeof content?.severity === 'string' ? content.severity : null,
					statusCode: typeof content?.statusCode === 'number' ? content.statusCode : null,
				};
			}
			next.set(file.name, alert);
		}
		strayCache = next;
		return [...next.values()];
	}

	return {
		async run() {
			await mkdir(deps.alertsDir, { recursive: true });
			const followUps = await followUpsDue();
			const indexWritten = await refreshIndex();
			return { followUps, indexWritten };
		},
		refreshIndex,
	};
}

/**
 * Runs the pass at start and then every `intervalMs` (0: never; another process does it).
 * A failing pass is logged once until it works again; stop() waits for a pass in progress.
 */
export function startAlertsPass(
	deps: AlertsPassDeps,
	intervalMs: number,
): { stop(): Promise<void> } {
	if (intervalMs <= 0) return { stop: async () => undefined };
	const pass = createAlertsPass(deps);
	let timer: NodeJS.Timeout | undefined;
	let running: Promise<void> | null = null;
	let stopped = false;
	let failing: string | null = null;

	const tick = () => {
		running = pass
			.run()
			.then(
				(result) => {
					if (failing !== null) deps.logger.info('alerts pass works again');
					failing = null;
					if (result.followUps.length > 0) {
						deps.logger.info({ files: result.followUps }, 'follow-up alert files written');
					}
				},
				(error: unknown) => {
					const message = String((error as Error)?.message ?? error);
					if (failing !== message) {
						deps.logger.error(
							{ err: error, retry_in_ms: intervalMs },
							'alerts pass failed (follow-up files, alerts/index.md)',
						);
					}
					failing = message;
				},
			)
			.finally(() => {
				running = null;
				if (!stopped) timer = setTimeout(tick, intervalMs).unref();
			});
	};
	tick();
	return {
		async stop() {
			stopped = true;
			clearTimeout(timer);
			await running;
		},
	};
}

function groupByRun(files: AlertFile[]): Map<string, AlertFile[]> {
	const byRun = new Map<string, AlertFile[]>();
	for (const file of files) {
		if (!file.isRunId) continue;
		const list = byRun.get(file.id);
		if (list) list.push(file);
		else byRun.set(file.id, [file]);
	}
	return byRun;
}
