import { forEachReceivedLead, type ReceivedLead } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import type { JsonObject } from '../json.js';
import type { CompiledRules } from '../intake/rules.js';

/** Run ids given as examples of each kind of change. */
const EXAMPLES = 5;
/** Leads read from the database at a time. */
const BATCH = 250;

interface Change {
	count: number;
	/** Rejection codes and how many of these leads each applies to. */
	reasons: Record<string, number>;
	run_ids: string[];
}

export interface DryRunReport {
	/** The version the proposal is compared with: pass it as `expected_version` when saving. */
	current_version: number;
	/** Leads evaluated: the newest runs, each by the masked lead its lead_received event holds. */
	evaluated: number;
	/** Runs without a readable lead (not evaluated). */
	unreadable: number;
	/** When the oldest and the newest evaluated lead arrived. */
	from: string | null;
	to: string | null;
	current: { accepted: number; rejected: number };
	proposed: { accepted: number; rejected: number };
	/** Accepted by the current version, rejected by the proposal; `reasons`: the proposal's. */
	newly_rejected: Change;
	/** Rejected by the current version, accepted by the proposal; `reasons`: the current version's. */
	newly_accepted: Change;
	/** Every rejection code: how many of the leads it applies to, now and with the proposal. */
	reasons: Record<string, { current: number; proposed: number }>;
	/**
	 * Leads the current version, applied to the masked lead, does not decide as they were decided:
	 * decided by an older version, or by a check on a field the masking hides. The figures above
	 * are only as good as this is small.
	 */
	not_as_recorded: { count: number; run_ids: string[] };
}

export interface DryRunInput {
	current: { version: number; rules: CompiledRules };
	proposed: CompiledRules;
	/** How many of the newest runs to evaluate. */
	limit: number;
}

/**
 * What a proposed version would change, against the newest `limit` leads: each is decided by
 * the current and by the proposed rules, and the differences counted. Nothing is written.
 * Bounded: at most `limit` leads, read through a cursor, each evaluated twice.
 */
export async function dryRun(sql: Sql, input: DryRunInput): Promise<DryRunReport> {
	const report: DryRunReport = {
		current_version: input.current.version,
		evaluated: 0,
		unreadable: 0,
		from: null,
		to: null,
		current: { accepted: 0, rejected: 0 },
		proposed: { accepted: 0, rejected: 0 },
		newly_rejected: { count: 0, reasons: {}, run_ids: [] },
		newly_accepted: { count: 0, reasons: {}, run_ids: [] },
		reasons: {},
		not_as_recorded: { count: 0, run_ids: [] },
	};
	const tally = (reasons: string[], side: 'current' | 'proposed') => {
		for (const reason of reasons) (report.reasons[reason] ??= { current: 0, proposed: 0 })[side]++;
	};
	const note = (change: Change | DryRunReport['not_as_recorded'], runId: string) => {
		change.count++;
		if (change.run_ids.length < EXAMPLES) change.run_ids.push(runId);
	};

	const evaluate = (row: ReceivedLead) => {
		const lead = row.lead;
		if (lead === null || typeof lead !== 'object' || Array.isArray(lead)) {
			report.unreadable++;
			return;
		}
		report.evaluated++;
		const received = row.received_at.toISOString();
		report.to ??= received;
		report.from = received;
		const now = input.current.rules.evaluate(lead as JsonObject).reasons;
		const then = input.proposed.evaluate(lead as JsonObject).reasons;
		report.current[now.length > 0 ? 'rejected' : 'accepted']++;
		report.proposed[then.length > 0 ? 'rejected' : 'accepted']++;
		tally(now, 'current');
		tally(then, 'proposed');
		if (now.length === 0 && then.length > 0) count(report.newly_rejected, then, row.run_id);
		if (now.length > 0 && then.length === 0) count(report.newly_accepted, now, row.run_id);
		if ((row.status === 'rejected') !== now.length > 0) note(report.not_as_recorded, row.run_id);
	};
	const count = (change: Change, reasons: string[], runId: string) => {
		note(change, runId);
		for (const reason of reasons) change.reasons[reason] = (change.reasons[reason] ?? 0) + 1;
	};

	await forEachReceivedLead(sql, input.limit, BATCH, (rows) => rows.forEach(evaluate));
	return report;
}
