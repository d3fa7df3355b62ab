import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import type { AlertBody } from '../api/requests.js';
import type { Sql } from '../db/connection.js';
import { ERR } from '../error-codes.js';
import { HttpError } from '../errors.js';
import { claimRoutedAlert, recordRoutedAlert } from '../db/routed-alerts.js';
import { isErased } from '../db/runs.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { Logger } from '../logger.js';
import { maskEmailsIn, sanitize } from '../pii/sanitize.js';
import {
	createAlertFile,
	isRunId,
	listAlertFiles,
	readAlertJson,
	writeAtomically,
} from './alert-files.js';

/*
 * POST /internal/alerts: the one writer of the alert files n8n's Alert Router raises. Whichever
 * n8n process or machine ran the execution, the file lands in the processor's alerts folder, in
 * the format the Alert Router wrote (plus `alert_id`), masked again by the processor's own
 * allow-list, and alerts/index.md lists it.
 */

export interface RoutedAlertDeps {
	sql: Sql;
	alertsDir: string;
	now: () => Date;
	logger: Logger;
	/** Rewrites alerts/index.md (the alerts pass's index step). */
	refreshIndex: () => Promise<unknown>;
}

export interface RoutedAlert {
	alert_id: string;
	file: string;
	created: boolean;
}

/** How long a call holds an alert's claim while it writes the file (milliseconds, normally). */
const CLAIM_SECONDS = 60;
/** How long a call waits for another call writing the same alert before it answers 409. */
const WAIT_FOR_OTHER_MS = 5000;
const WAIT_STEP_MS = 25;

/**
 * Writes the alert's file once per alert_id: a repeat (n8n retrying, a second Alert Router on the
 * same event) answers the first file, and one that comes while the first is being written waits
 * for it. Under the alert's claim: a file written by a call that died before recording it (found
 * by its alert_id), else a new file.
 */
export async function routeAlert(
	deps: RoutedAlertDeps,
	body: z.infer<typeof AlertBody>,
): Promise<RoutedAlert> {
	const recorded = await claimOrWait(deps.sql, body.alert_id);
	if (recorded !== null) return { alert_id: body.alert_id, file: recorded, created: false };
	const now = deps.now();
	const fileId =
		body.run_id ?? (body.alert_id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120) || 'alert');
	// an alert that arrives after its person was erased (an outcome event n8n had in hand)
	// keeps the incident, not the lead
	const runId = body.run_id !== null && isRunId(body.run_id) ? body.run_id : null;
	const erased = runId !== null && (await isErased(deps.sql, runId));
	const content = (asErased: boolean) =>
		`${JSON.stringify(alertDocument(body, now, asErased), null, 2)}\n`;
	await mkdir(deps.alertsDir, { recursive: true });
	const written = await findWritten(deps.alertsDir, fileId, body.alert_id);
	const file = written ?? (await createAlertFile(deps.alertsDir, now, fileId, content(erased)));
	// an erasure deletes a run's files before and after it erases the run: one written meanwhile,
	// by this call or by one that died, is made the erased incident here
	const mayHoldTheLead = written !== null || !erased;
	if (runId !== null && mayHoldTheLead && (erased || (await isErased(deps.sql, runId)))) {
		await writeAtomically(join(deps.alertsDir, file), content(true));
	}
	const kept = await recordRoutedAlert(deps.sql, body.alert_id, file);
	if (kept !== file) {
		// this call's lease ran out and a call that took it over recorded its file first: one is enough
		await rm(join(deps.alertsDir, file), { force: true });
		return { alert_id: body.alert_id, file: kept, created: false };
	}
	const result = { alert_id: body.alert_id, file, created: written === null };
	if (result.created) {
		// the file is the alert; the index follows now or at the next alerts pass
		await deps
			.refreshIndex()
			.catch((error: unknown) =>
				deps.logger.warn(
					{ err: error },
					'alerts/index.md not rewritten; the next alerts pass will',
				),
			);
	}
	return result;
}

/** The alert's recorded file, or null once this call holds its claim. */
async function claimOrWait(sql: Sql, alertId: string): Promise<string | null> {
	const giveUpAt = Date.now() + WAIT_FOR_OTHER_MS;
	for (;;) {
		const found = await claimRoutedAlert(sql, alertId, CLAIM_SECONDS);
		if ('file' in found) return found.file;
		if (found.claimed) return null;
		if (Date.now() >= giveUpAt) {
			throw new HttpError(
				409,
				ERR.request_in_progress,
				'This alert is being written by another call right now; ask again later',
				{ alert_id: alertId },
				{ 'Retry-After': String(CLAIM_SECONDS) },
			);
		}
		await delay(WAIT_STEP_MS);
	}
}

/** The Alert Router's file format, masked by the processor's allow-list. */
function alertDocument(body: z.infer<typeof AlertBody>, now: Date, erased: boolean): JsonObject {
	return {
		alert: true,
		alert_id: body.alert_id,
		severity: body.severity,
		summary: maskEmailsIn(body.summary),
		run_id: body.run_id,
		statusCode: body.statusCode,
		reason: maskEmailsIn(body.reason),
		outcome: body.outcome,
		created_at: body.created_at ? new Date(body.created_at).toISOString() : now.toISOString(),
		response: erased ? { erased: true } : sanitize((body.response ?? null) as JsonValue),
		payload: erased ? { erased: true } : sanitize((body.payload ?? null) as JsonValue),
	};
}

/** Files named after the alert's id are few (an incident's alerts): each is read to compare. */
async function findWritten(dir: string, fileId: string, alertId: string): Promise<string | null> {
	const files = (await listAlertFiles(dir)).filter((file) => file.id === fileId).slice(-50);
	for (const file of files) {
		if ((await readAlertJson(dir, file.name))?.alert_id === alertId) return file.name;
	}
	return null;
}
