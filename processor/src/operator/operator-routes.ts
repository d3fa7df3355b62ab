import express, { Router } from 'express';
import * as request from '../api/requests.js';
import { eventsOfRun } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { attemptsOfRun } from '../db/delivery-attempts.js';
import { dlqEntriesOfRun, findDlqEntry, listDlq } from '../db/dlq.js';
import { resolveByOperator } from '../db/transitions.js';
import { readKpiRange } from '../db/kpi.js';
import { ledger } from '../db/ledger.js';
import { makeAllDue, pendingEvents, pendingSummary } from '../db/outcome-events.js';
import { findRun, findRunByKey, recentRuns, runCountsByStatus, type RunRow } from '../db/runs.js';
import { replay, retryDue, retryOne, type RetryDeps } from '../dlq/retry-service.js';
import { storedIdempotencyKey } from '../pii/idempotency-key.js';
import { HttpError } from '../errors.js';
import type { RateLimit } from '../http/rate-limit.js';
import { requireJsonBody, requireServiceToken } from '../http/service-auth.js';
import { refuseUnstorableBody, requireUtf8 } from '../http/storable-body.js';
import { routeAlert, type RoutedAlertDeps } from '../incidents/routed-alerts.js';
import { computeDaily, shiftDay, yesterday, type KpiDeps } from '../kpi/kpi-service.js';
import { pendingErasures } from '../db/privacy.js';
import { erasePerson, exportPerson, type PrivacyDeps } from '../privacy/privacy-service.js';
import { applyRetention, type RetentionDeps } from '../privacy/retention.js';
import type { RulesDeps } from '../rules/rules-service.js';
import { input, whoAsks } from './parse.js';
import { RULES_BODY_LIMIT, rulesRouter } from './rules-routes.js';
import { ERR } from '../error-codes.js';
import { maskEmailsWithin } from '../pii/sanitize.js';

export interface OperatorDeps {
	sql: Sql;
	/** Looking a run up by key stores the key as the intake does. */
	emailHashSalt: string;
	serviceToken: string;
	/** Wrong or missing service tokens per client address (a right one is never counted or refused). */
	refusedTokens: RateLimit;
	retry: RetryDeps;
	kpi: KpiDeps;
	rules: RulesDeps;
	alerts: RoutedAlertDeps;
	privacy: PrivacyDeps;
	retention: RetentionDeps;
	retryBatchSize: number;
	/** Whether EVENTS_URL is set; wakes the dispatcher after an operator's "send now". */
	events: { urlSet: boolean; wake: () => void };
}

/** An operator request's JSON body, after decompression. */
const OPERATOR_BODY_LIMIT = 16 * 1024;
/** The longest time range one ledger request reads. */
export const MAX_LEDGER_DAYS = 31;

/** The internal endpoints (docs/contract.md, "Operator API"), all behind the service token. */
export function operatorRouter(deps: OperatorDeps): Router {
	const router = Router();
	// a rules document may be larger than any other operator body
	const bodies = (limit: number) => [
		requireJsonBody(limit),
		express.json({ limit, verify: requireUtf8 }),
	];
	const [checkBody, readBody] = bodies(OPERATOR_BODY_LIMIT);
	const [checkRules, readRules] = bodies(RULES_BODY_LIMIT);
	router.use(
		'/internal',
		requireServiceToken(deps.serviceToken, deps.refusedTokens),
		(req, res, next) => (req.path.startsWith('/rules') ? checkRules : checkBody)!(req, res, next),
		(req, res, next) => (req.path.startsWith('/rules') ? readRules : readBody)!(req, res, next),
		refuseUnstorableBody,
	);
	router.use(rulesRouter(deps.rules));

	router.post('/internal/dlq/retry-due', async (req, res) => {
		const { limit } = input(req, { body: request.RetryDueBody });
		res.json(await retryDue(deps.retry, limit ?? deps.retryBatchSize));
	});

	router.get('/internal/events', async (req, res) => {
		const { limit } = input(req, { query: request.OutboxQuery });
		const [summary, events] = await Promise.all([
			pendingSummary(deps.sql),
			pendingEvents(deps.sql, limit),
		]);
		res.json({ ...summary, events_url_set: deps.events.urlSet, events });
	});

	router.post('/internal/events/retry', async (req, res) => {
		input(req, {});
		const due = await makeAllDue(deps.sql, deps.retry.now());
		deps.events.wake();
		res.json({ due });
	});

	router.get('/internal/dlq', async (req, res) => {
		const filter = input(req, { query: request.DlqListQuery });
		const page = await listDlq(deps.sql, {
			status: filter.status ?? null,
			reason: filter.reason ?? null,
			limit: filter.limit,
			offset: filter.offset,
		});
		res.json({ ...page, limit: filter.limit, offset: filter.offset });
	});

	router.post('/internal/dlq/:id/retry', async (req, res) => {
		const { id } = input(req, { params: request.DlqIdParams });
		const outcome = await retryOne(deps.retry, id);
		if (outcome) return void res.json(outcome);
		const entry = await findDlqEntry(deps.sql, id);
		if (!entry) throw new HttpError(404, ERR.dlq_item_not_found, `No DLQ item ${id}`);
		const waits = entry.run_id !== null && (entry.status === 'open' || entry.status === 'dead');
		throw new HttpError(
			409,
			ERR.dlq_item_not_retryable,
			waits
				? `DLQ item ${id} waits for a newer lead of its CRM record still on its way (policy update), or a retry is taking it right now; it is retried after that one, or found superseded`
				: `DLQ item ${id} is ${entry.status}${entry.run_id ? '' : ' and has no lead'}; it cannot be retried now`,
		);
	});

	router.post('/internal/dlq/:id/resolve', async (req, res) => {
		const { id, note } = input(req, { params: request.DlqIdParams, body: request.ResolveBody });
		const resolved = await resolveByOperator(deps.sql, {
			dlqId: id,
			// kept on the item and in its audit event, which no erasure of this person reaches
			note: maskEmailsWithin(note, 1000),
			correlationId: String(req.id),
		});
		if (!resolved) {
			const entry = await findDlqEntry(deps.sql, id);
			if (!entry) throw new HttpError(404, ERR.dlq_item_not_found, `No DLQ item ${id}`);
			throw new HttpError(409, ERR.dlq_item_not_resolvable, `DLQ item ${id} is ${entry.status}`);
		}
		res.json(await findDlqEntry(deps.sql, id));
	});

	router.get('/internal/stats/runs', async (req, res) => {
		input(req, {});
		res.json({ by_status: await runCountsByStatus(deps.sql) });
	});

	router.get('/internal/runs', async (req, res) => {
		const filter = input(req, { query: request.RunsQuery });
		res.json({
			runs: await recentRuns(deps.sql, { status: filter.status ?? null, limit: filter.limit }),
		});
	});

	const history = async (run: RunRow) => {
		const [events, attempts, dlq] = await Promise.all([
			eventsOfRun(deps.sql, run.run_id),
			attemptsOfRun(deps.sql, run.run_id),
			dlqEntriesOfRun(deps.sql, run.run_id),
		]);
		return { run, events, attempts, dlq };
	};

	router.get('/internal/runs/by-key/:key', async (req, res) => {
		const { key } = input(req, { params: request.RunKeyParams });
		const run = await findRunByKey(deps.sql, storedIdempotencyKey(key, deps.emailHashSalt));
		if (!run) throw new HttpError(404, ERR.run_not_found, 'No run with this idempotency key');
		res.json(await history(run));
	});

	router.get('/internal/runs/:runId', async (req, res) => {
		const { runId } = input(req, { params: request.RunIdParams });
		const run = await findRun(deps.sql, runId);
		if (!run) throw new HttpError(404, ERR.run_not_found, `No run ${runId}`);
		res.json(await history(run));
	});

	router.post('/internal/dlq/replay', async (req, res) => {
		const body = input(req, { body: request.ReplayBody });
		if (body.from && body.to && body.from >= body.to) {
			throw new HttpError(400, ERR.invalid_range, '"from" must be before "to"');
		}
		const filter = {
			statuses: body.status,
			reason: body.reason ?? null,
			source: body.source ?? null,
			from: body.from ?? null,
			to: body.to ?? null,
		};
		res.json(await replay(deps.retry, filter, { limit: body.limit, dryRun: body.dry_run }));
	});

	router.get('/internal/stats/ledger', async (req, res) => {
		const now = deps.retry.now();
		const query = input(req, { query: request.LedgerQuery });
		const range = {
			from: query.from ?? new Date(now.getTime() - 24 * 3600 * 1000),
			to: query.to ?? now,
		};
		if (range.from >= range.to)
			throw new HttpError(400, ERR.invalid_range, '"from" must be before "to"');
		// every run of the range is read: a range of years would hold a connection for the
		// statement timeout, a few of them every connection the intake needs
		if (range.to.getTime() - range.from.getTime() > MAX_LEDGER_DAYS * 24 * 3600 * 1000)
			throw new HttpError(
				400,
				ERR.invalid_range,
				`A ledger covers at most ${MAX_LEDGER_DAYS} days: ask for a longer time in parts`,
			);
		const leaseCutoff = new Date(now.getTime() - deps.retry.acceptedLeaseSeconds * 1000);
		res.json({
			from: range.from.toISOString(),
			to: range.to.toISOString(),
			...(await ledger(deps.sql, range, leaseCutoff, now)),
		});
	});

	router.post('/internal/kpi/compute-daily', async (req, res) => {
		const { date } = input(req, { body: request.KpiComputeBody });
		res.json(await computeDaily(deps.kpi, date ?? yesterday(deps.kpi.now()), String(req.id)));
	});

	router.post('/internal/alerts', async (req, res) => {
		const body = input(req, { body: request.AlertBody });
		const routed = await routeAlert(deps.alerts, body);
		res.status(routed.created ? 201 : 200).json(routed);
	});

	router.get('/internal/kpi', async (req, res) => {
		const query = input(req, { query: request.KpiRangeQuery });
		const to = query.to ?? yesterday(deps.kpi.now());
		const range = { from: query.from ?? shiftDay(to, -6), to };
		if (range.from > range.to)
			throw new HttpError(400, ERR.invalid_range, '"from" must not be after "to"');
		res.json({
			from: range.from,
			to: range.to,
			rows: await readKpiRange(deps.sql, range.from, range.to),
		});
	});

	router.post('/internal/privacy/erase', async (req, res) => {
		const { email, phone, actor } = input(req, { body: request.PersonBody });
		res.json(
			await erasePerson(
				deps.privacy,
				{ email, phone },
				{ requestedBy: whoAsks(req, actor), correlationId: String(req.id) },
			),
		);
	});

	router.post('/internal/privacy/export', async (req, res) => {
		const { email, phone, actor } = input(req, { body: request.PersonBody });
		res.json(
			await exportPerson(
				deps.privacy,
				{ email, phone },
				{ requestedBy: whoAsks(req, actor), correlationId: String(req.id) },
			),
		);
	});

	router.post('/internal/privacy/retention', async (req, res) => {
		input(req, {});
		res.json(await applyRetention(deps.retention, String(req.id)));
	});

	router.get('/internal/privacy/erasures', async (req, res) => {
		input(req, {});
		res.json({ pending: await pendingErasures(deps.sql) });
	});

	return router;
}
