import { mkdir } from 'node:fs/promises';
import type { z } from 'zod';
import type { AlertBody } from '../api/requests.js';
import type { Sql } from '../db/connection.js';
import { findRoutedAlert, recordRoutedAlert, withAlertLock } from '../db/routed-alerts.js';
import { isErased } from '../db/runs.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { Logger } from '../logger.js';
import { maskEmailsIn, sanitize } from '../pii/sanitize.js';
import { createAlertFile, isRunId, listAlertFiles, readAlertJson } from './alert-files.js';

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

/**
 * Writes the alert's file once per alert_id: a repeat (n8n retrying, a second Alert Router on the
 * same event) answers the first file. Under the alert's lock: the row, else a file written by a
 * call that crashed before its row committed (found by its alert_id), else a new file.
 */
export async function routeAlert(
	deps: RoutedAlertDeps,
	body: z.infer<typeof AlertBody>,
): Promise<RoutedAlert> {
	const now = deps.now();
	const fileId =
		body.run_id ?? (body.alert_id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120) || 'alert');
	const result = await withAlertLock(deps.sql, body.alert_id, async (tx) => {
		const recorded = await findRoutedAlert(tx, body.alert_id);
		if (recorded) return { alert_id: body.alert_id, file: recorded, created: false };
		// an alert that arrives after its person was erased (an outcome event n8n had in hand)
		// keeps the incident, not the lead
		const erased =
			body.run_id !== null && isRunId(body.run_id) && (await isErased(tx, body.run_id));
		const document = alertDocument(body, now, erased);
		await mkdir(deps.alertsDir, { recursive: true });
		const written = await findWritten(deps.alertsDir, fileId, body.alert_id);
		const file =
			written ??
			(await createAlertFile(
				deps.alertsDir,
				now,
				fileId,
				`${JSON.stringify(document, null, 2)}\n`,
			));
		await recordRoutedAlert(tx, body.alert_id, file);
		return { alert_id: body.alert_id, file, created: written === null };
	});
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
