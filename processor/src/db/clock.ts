import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Sql } from './connection.js';
import { withDeadline } from './deadline.js';

/*
 * The processor tells time by the database's clock. Leases, expiries, retry times and rate-limit
 * windows are compared with times the database wrote (`received_at`, `now()` in SQL) and with
 * times other processors wrote: on each processor's own wall clock, one running a few minutes fast
 * would take runs another processor is still delivering for expired (and send them again from the
 * DLQ), and the processors would count a source's requests in different minutes.
 *
 * The database's time is read once, then carried forward on the process's monotonic clock (so a
 * step of the host's wall clock changes nothing), and read again every RESYNC_MS.
 */

const RESYNC_MS = 60_000;
/** A host clock this far off the database's is worth telling the operator about. */
const SKEW_WORTH_A_WARNING_MS = 2_000;

export interface DatabaseClock {
	now(): Date;
	close(): void;
}

/** Reads the database's time, then keeps it; fails (as the processor's start) if it cannot. */
export async function startDatabaseClock(
	sql: Sql,
	options: { deadlineMs: number; logger: Logger },
): Promise<DatabaseClock> {
	let base = await readDatabaseTime(sql, options.deadlineMs);
	const now = () => new Date(base.databaseMs + (performance.now() - base.monotonicMs));
	let warned = false;
	const warnOfSkew = () => {
		const skewMs = Date.now() - now().getTime();
		if (warned || Math.abs(skewMs) < SKEW_WORTH_A_WARNING_MS) return;
		warned = true;
		options.logger.warn(
			{ skew_s: Math.round(skewMs / 100) / 10 },
			"this host's clock differs from the database's; the processor keeps the database's time (check the host's time sync)",
		);
	};
	warnOfSkew();
	const timer = setInterval(() => {
		readDatabaseTime(sql, options.deadlineMs).then(
			(read) => {
				base = read;
				warnOfSkew();
			},
			(error: unknown) =>
				options.logger.debug({ err: error }, "the database's time not read; the next pass will"),
		);
	}, RESYNC_MS).unref();
	return {
		now,
		close: () => clearInterval(timer),
	};
}

/** The database's time, and the monotonic time of the moment it was read (half way). */
async function readDatabaseTime(sql: Sql, deadlineMs: number) {
	const sent = performance.now();
	const [row] = await withDeadline(
		sql<{ ms: number }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`,
		deadlineMs,
	);
	return { databaseMs: row!.ms, monotonicMs: (sent + performance.now()) / 2 };
}
