import type { DlqIncident, IncidentState, RejectedLead } from '../db/incidents.js';
import { formatAge, formatUtcMinute, formatUtcSecond } from '../text/durations.js';
import { adviseOn, safeText } from './advice.js';
import type { AlertFile } from './alert-files.js';

/*
 * alerts/index.md: the one page that says which leads still need a person. Open incidents first
 * (dead items, then items waiting for an automatic retry), then alerts without a lead record,
 * then what closed recently; newest first in each part. Pure: built from the record and the
 * alert files present.
 */

export const INDEX_FILE = 'index.md';

/** An alert file whose id names no lead in the record: an n8n workflow error, a refused call. */
export interface StrayAlert {
	file: AlertFile;
	summary: string | null;
	severity: string | null;
	statusCode: number | null;
}

export interface IndexInput {
	now: Date;
	/** How far back "closed" and stray alerts reach. */
	windowDays: number;
	/** Entries per section at most. */
	limit: number;
	state: IncidentState;
	/** Alert files per run id. */
	filesByRun: Map<string, AlertFile[]>;
	/** Newest first, cut at the section limit. */
	stray: StrayAlert[];
	strayTotal: number;
}

const TITLE = '# Alerts: what still needs a person';

/** The page below its title and "written at" line (what decides whether it changed). */
export function buildIndexBody(input: IndexInput): string {
	const { state, now, windowDays } = input;
	const days = `the last ${windowDays} days`;
	const closedTotal = state.resolvedTotal + state.rejectedTotal;
	const signatures = signatureEntry(state);
	const strayCount = input.strayTotal + signatures.length;
	const lines: string[] = [
		state.deadTotal === 0
			? '**No lead needs a person.**'
			: `**${count(state.deadTotal, 'lead needs', 'leads need')} a person** (listed first).`,
		[
			state.waitingTotal === 0
				? 'No lead waits for a retry.'
				: `${count(state.waitingTotal, 'lead waits', 'leads wait')} for an automatic retry.`,
			strayCount > 0 ? `${count(strayCount, 'alert', 'alerts')} without a lead record.` : '',
			`In ${days}: ${count(state.resolvedTotal, 'failed lead', 'failed leads')} settled, ${count(state.rejectedTotal, 'lead', 'leads')} refused by the rules.`,
		]
			.filter(Boolean)
			.join(' '),
		'',
		`## Needs a person (${state.deadTotal})`,
		'',
		...section(
			state.dead.map((item) => incidentEntry(item, input, 'open').lines),
			state.deadTotal,
			'None.',
			'GET /internal/dlq?status=dead',
		),
		`## Waiting for an automatic retry (${state.waitingTotal})`,
		'',
		...section(
			state.waiting.map((item) => incidentEntry(item, input, 'open').lines),
			state.waitingTotal,
			'None.',
			'GET /internal/dlq?status=open',
		),
		`## Alerts without a lead record, ${days} (${strayCount})`,
		'',
		...section(
			[...signatures, ...input.stray.map((alert) => strayEntry(alert, now))],
			strayCount,
			'None.',
			'the alert files in this folder',
		),
		`## Closed in ${days} (${closedTotal})`,
		'',
		...section(
			closedEntries(input),
			closedTotal,
			'None.',
			'GET /internal/dlq?status=resolved and GET /internal/runs?status=rejected',
		),
	];
	return `${lines.join('\n').trimEnd()}\n`;
}

/** The whole file: title, when it was written, the body. */
export function renderIndex(body: string, writtenAt: Date): string {
	return `${TITLE}\n\n_Written ${formatUtcSecond(writtenAt)} by the processor from its database and the alert files in this folder; rewritten whenever something changes. Ages are as of then._\n\n${body}`;
}

/** The body of an index.md written by renderIndex (null when the file is something else). */
export function bodyOfIndex(text: string): string | null {
	const parts = text.split('\n');
	return parts[0] === TITLE && parts[1] === '' && parts[3] === ''
		? parts.slice(4).join('\n')
		: null;
}

function incidentEntry(item: DlqIncident, input: IndexInput, kind: 'open' | 'closed'): Entry {
	const advice = adviseOn(item, input.now);
	const failed = `failed ${formatUtcMinute(item.created_at)}`;
	const when =
		kind === 'open'
			? `open for ${age(item.created_at, input.now)} (${failed})`
			: `closed ${age(item.ended_at ?? input.now, input.now)} ago, ${formatAge(
					(item.ended_at ?? input.now).getTime() - item.created_at.getTime(),
				)} after it ${failed}`;
	return {
		at: kind === 'open' ? item.created_at : (item.ended_at ?? input.now),
		lines: [
			`**Lead \`${item.run_id}\`** from ${markdown(safeText(item.source, 80))}: ${when}`,
			`What happened: ${markdown(advice.happened)}`,
			`What to do: ${markdown(advice.todo)}`,
			filesLine(input.filesByRun.get(item.run_id) ?? [], item.followup_file),
		],
	};
}

function rejectedEntry(lead: RejectedLead, input: IndexInput): Entry {
	return {
		at: lead.received_at,
		lines: [
			`**Lead \`${lead.run_id}\`** from ${markdown(safeText(lead.source, 80))}: refused by the rules ${age(lead.received_at, input.now)} ago (${formatUtcMinute(lead.received_at)})`,
			`What happened: the rules refused it (${markdown(safeText(lead.rejection_reasons.join(', ')))}).`,
			'What to do: Nothing (for information); if good leads are refused, the rules need a look.',
			filesLine(input.filesByRun.get(lead.run_id) ?? [], null),
		],
	};
}

function closedEntries(input: IndexInput): string[][] {
	return [
		...input.state.resolved.map((item) => incidentEntry(item, input, 'closed')),
		...input.state.rejected.map((lead) => rejectedEntry(lead, input)),
	]
		.sort((a, b) => b.at.getTime() - a.at.getTime())
		.slice(0, input.limit)
		.map((entry) => entry.lines);
}

function signatureEntry(state: IncidentState): string[][] {
	const total = state.signatureFailures.reduce((sum, failure) => sum + failure.count, 0);
	if (total === 0) return [];
	const reasons = state.signatureFailures
		.map((failure) => `${markdown(safeText(failure.reason, 60))} ${failure.count}`)
		.join(', ');
	return [
		[
			`**${count(total, 'request', 'requests')} refused for the signature** in the last 24 hours (${reasons})`,
			'What happened: the processor refused them before reading the lead, so no lead was recorded.',
			'What to do: if a lead source reports errors, check that n8n signs with the processor’s current secret; otherwise nothing.',
		],
	];
}

function strayEntry(alert: StrayAlert, now: Date): string[] {
	const executionId = /^\d+$/.test(alert.file.id) ? alert.file.id : null;
	const what = executionId ? `n8n execution ${executionId}` : 'Alert';
	const severity = alert.severity ? `, severity ${markdown(safeText(alert.severity, 20))}` : '';
	return [
		`**${what}**: ${age(alert.file.at, now)} ago (${formatUtcMinute(alert.file.at)})${severity}`,
		`What happened: ${alert.summary ? markdown(safeText(alert.summary)) : 'see the file.'}`,
		`What to do: ${strayAdvice(executionId, alert.statusCode)}`,
		`File: \`${alert.file.name}\``,
	];
}

function strayAdvice(executionId: string | null, statusCode: number | null): string {
	if (executionId) {
		return `Open execution ${executionId} in the n8n editor (Executions) to see which step failed; if it was the lead intake workflow, the lead source got an error and must send the lead again.`;
	}
	if (statusCode === 401 || statusCode === 409) {
		return 'The processor refused the signature: check that n8n and the processor share the signing secret; the lead source must send the lead again.';
	}
	if (statusCode === 429) {
		return 'The processor was over its rate limit: the lead source must send the lead again.';
	}
	if (statusCode === null || statusCode === 0 || statusCode >= 500) {
		return 'n8n could not get an answer from the processor: check that it runs; the lead source must send the lead again.';
	}
	return 'The processor has no record of this lead: read the file; the lead source must send the lead again.';
}

interface Entry {
	at: Date;
	lines: string[];
}

/** A numbered list, each entry's first line followed by its details as sub-items. */
function section(entries: string[][], total: number, none: string, more: string): string[] {
	if (entries.length === 0) return [none, ''];
	const lines = entries.flatMap((entry, index) => {
		const [first, ...details] = entry;
		return [`${index + 1}. ${first}`, ...details.map((detail) => `   - ${detail}`)];
	});
	if (total > entries.length) lines.push('', `… and ${total - entries.length} more: see ${more}.`);
	return [...lines, ''];
}

function filesLine(files: AlertFile[], followUp: string | null): string {
	if (files.length === 0) return 'Files: none in this folder.';
	const named = files.map(
		(file) => `\`${file.name}\`${file.name === followUp ? ' (follow-up)' : ''}`,
	);
	return `Files, oldest first: ${named.join(', ')}`;
}

function age(since: Date, now: Date): string {
	return formatAge(now.getTime() - since.getTime());
}

function count(value: number, one: string, many: string): string {
	return `${value} ${value === 1 ? one : many}`;
}

/**
 * Dynamic text inside markdown: no links, code or HTML of its own. Asterisks stay as they are:
 * masked values (`j***@example.com`) must read the same in the raw file.
 */
function markdown(text: string): string {
	return text.replace(/[\\`[\]<>]/g, (char) => `\\${char}`);
}
