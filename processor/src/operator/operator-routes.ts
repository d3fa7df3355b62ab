import express, { Router } from 'express';
import { z } from 'zod';
import { eventsOfRun, insertEvents } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { attemptsOfRun } from '../db/delivery-attempts.js';
import { dlqEntriesOfRun, findDlqEntry, listDlq, resolveManually } from '../db/dlq.js';
import { readKpiRange } from '../db/kpi.js';
import { ledger } from '../db/ledger.js';
import {
	findRun,
	findRunByKey,
	purgeSealedLead,
	recentRuns,
	runCountsByStatus,
	type RunRow,
} from '../db/runs.js';
import { dlqResolved } from '../delivery/events.js';
import { replay, retryDue, retryOne, type RetryDeps } from '../dlq/retry-service.js';
import { storedIdempotencyKey } from '../pii/idempotency-key.js';
import { DLQ_STATUSES, RUN_STATUSES } from '../vocabulary.js';
import { HttpError } from '../errors.js';
import { requireServiceToken } from '../http/service-auth.js';
import { computeDaily, shiftDay, yesterday, type KpiDeps } from '../kpi/kpi-service.js';

export interface OperatorDeps {
	sql: Sql;
	/** Looking a run up by key stores the key as the intake does. */
	emailHashSalt: string;
	serviceToken: string;
	retry: RetryDeps;
	kpi: KpiDeps;
	retryBatchSize: number;
}

const Day = z.iso.date();
const DlqStatus = z.enum(DLQ_STATUSES);
const RunStatus = z.enum(RUN_STATUSES);
/** Operator text reaches SQL: Postgres refuses a NUL in text, so it is a 400 here, not a 500 there. */
const Text = (max: number) =>
	z
		.string()
		.trim()
		.min(1)
		.max(max)
		.refine((text) => !text.includes('\u0000'), 'must not contain NUL characters');
const Reason = Text(100);
const Paging = {
	limit: z.coerce.number().int().min(1).max(500).default(50),
	offset: z.coerce.number().int().min(0).default(0),
};
const DlqId = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
/** An ISO date (midnight UTC) or date-time. */
const Instant = z
	.union([z.iso.datetime({ offset: true }), z.iso.date()])
	.transform((value) => new Date(value));
const ReplayRequest = z.strictObject({
	status: z
		.array(z.enum(['open', 'dead']))
		.min(1)
		.default(['dead']),
	reason: Reason.optional(),
	source: Text(100).optional(),
	from: Instant.optional(),
	to: Instant.optional(),
	limit: z.number().int().min(1).max(10_000).default(100),
	dry_run: z.boolean().default(false),
});

/** The internal endpoints (SPEC 3.8), all behind the service token. */
export function operatorRouter(deps: OperatorDeps): Router {
	const router = Router();
	router.use('/internal', requireServiceToken(deps.serviceToken), express.json({ limit: '16kb' }));

	router.post('/internal/dlq/retry-due', async (req, res) => {
		const { limit } = parse(
			z.object({ limit: z.number().int().min(1).max(10_000).default(deps.retryBatchSize) }),
			req.body ?? {},
		);
		res.json(await retryDue(deps.retry, limit));
	});

	router.get('/internal/dlq', async (req, res) => {
		const filter = parse(
			z.object({ status: DlqStatus.optional(), reason: Reason.optional(), ...Paging }),
			req.query,
		);
		const page = await listDlq(deps.sql, {
			status: filter.status ?? null,
			reason: filter.reason ?? null,
			limit: filter.limit,
			offset: filter.offset,
		});
		res.json({ ...page, limit: filter.limit, offset: filter.offset });
	});

	router.post('/internal/dlq/:id/retry', async (req, res) => {
		const { id } = parse(DlqId, req.params);
		const outcome = await retryOne(deps.retry, id);
		if (outcome) return void res.json(outcome);
		const entry = await findDlqEntry(deps.sql, id);
		if (!entry) throw new HttpError(404, 'dlq_item_not_found', `No DLQ item ${id}`);
		throw new HttpError(
			409,
			'dlq_item_not_retryable',
			`DLQ item ${id} is ${entry.status}${entry.run_id ? '' : ' and has no lead'}; it cannot be retried now`,
		);
	});

	router.post('/internal/dlq/:id/resolve', async (req, res) => {
		const { id } = parse(DlqId, req.params);
		const { note } = parse(z.object({ note: Text(1000) }), req.body ?? {});
		const resolved = await deps.sql.begin(async (tx) => {
			const entry = await resolveManually(tx, id, note);
			if (!entry) return null;
			if (entry.run_id) await purgeSealedLead(tx, entry.run_id);
			await insertEvents(tx, entry.run_id, String(req.id), [
				dlqResolved({ dlq_id: id, by: 'operator', retry_count: entry.retry_count, note }),
			]);
			return entry;
		});
		if (!resolved) {
			const entry = await findDlqEntry(deps.sql, id);
			if (!entry) throw new HttpError(404, 'dlq_item_not_found', `No DLQ item ${id}`);
			throw new HttpError(409, 'dlq_item_not_resolvable', `DLQ item ${id} is ${entry.status}`);
		}
		res.json(await findDlqEntry(deps.sql, id));
	});

	router.get('/internal/stats/runs', async (_req, res) => {
		res.json({ by_status: await runCountsByStatus(deps.sql) });
	});

	router.get('/internal/runs', async (req, res) => {
		const filter = parse(
			z.object({ status: RunStatus.optional(), limit: Paging.limit }),
			req.query,
		);
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
		const { key } = parse(z.object({ key: Text(200) }), req.params);
		const run = await findRunByKey(deps.sql, storedIdempotencyKey(key, deps.emailHashSalt));
		if (!run) throw new HttpError(404, 'run_not_found', 'No run with this idempotency key');
		res.json(await history(run));
	});

	router.get('/internal/runs/:runId', async (req, res) => {
		const { runId } = parse(z.object({ runId: z.uuid() }), req.params);
		const run = await findRun(deps.sql, runId);
		if (!run) throw new HttpError(404, 'run_not_found', `No run ${runId}`);
		res.json(await history(run));
	});

	router.post('/internal/dlq/replay', async (req, res) => {
		const body = parse(ReplayRequest, req.body ?? {});
		if (body.from && body.to && body.from >= body.to) {
			throw new HttpError(400, 'invalid_range', '"from" must be before "to"');
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
		const range = parse(
			z.object({
				from: Instant.default(new Date(now.getTime() - 24 * 3600 * 1000)),
				to: Instant.default(now),
			}),
			req.query,
		);
		if (range.from >= range.to)
			throw new HttpError(400, 'invalid_range', '"from" must be before "to"');
		const leaseCutoff = new Date(now.getTime() - deps.retry.acceptedLeaseSeconds * 1000);
		res.json({
			from: range.from.toISOString(),
			to: range.to.toISOString(),
			...(await ledger(deps.sql, range, leaseCutoff)),
		});
	});

	router.post('/internal/kpi/compute-daily', async (req, res) => {
		const { date } = parse(z.object({ date: Day.optional() }), req.body ?? {});
		res.json(await computeDaily(deps.kpi, date ?? yesterday(deps.kpi.now()), String(req.id)));
	});

	router.get('/internal/kpi', async (req, res) => {
		const to = yesterday(deps.kpi.now());
		const range = parse(
			z.object({ from: Day.default(shiftDay(to, -6)), to: Day.default(to) }),
			req.query,
		);
		if (range.from > range.to)
			throw new HttpError(400, 'invalid_range', '"from" must not be after "to"');
		res.json({
			from: range.from,
			to: range.to,
			rows: await readKpiRange(deps.sql, range.from, range.to),
		});
	});

	return router;
}

/** Validates input at the edge: 400 naming each bad field. */
function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	throw new HttpError(400, 'invalid_request', 'The request parameters are invalid', {
		issues: result.error.issues.map((issue) => ({
			path: issue.path.join('.') || '(body)',
			message: issue.message,
		})),
	});
}
