import type { KpiRow } from '../db/kpi.js';
import { LEAD_SERIES, TIME_SERIES, type TrendCharts } from './charts.js';
import {
	COMPARED_DAYS,
	dayMeasures,
	durationText,
	ledgerLine,
	summarySentence,
	type ReportInput,
} from './report.js';

/*
 * kpi_<day>.html: the daily report as one self-contained page. No script, font, stylesheet or
 * image from anywhere (the charts are inline SVG, and the page's own policy forbids loading
 * anything), so it opens the same from a mail attachment, a file share or a browser offline.
 */

const VERDICT_MARK = { balanced: '✔', unbalanced: '✖', unknown: '?' } as const;

export function buildHtmlReport(input: ReportInput, charts: TrendCharts): string {
	const { day, days, queue } = input;
	const ledger = ledgerLine(day.day, input.ledger);
	const title = `Lead Intake daily report — ${day.day} (UTC)`;
	const measures = dayMeasures(input)
		.map(
			(item) =>
				`<tr data-measure="${item.key}"><th scope="row">${escape(item.label)}</th>` +
				`<td class="number" data-value="${item.value}">${item.value}</td>` +
				`<td class="number">${escape(item.share ?? '')}</td><td>${escape(item.compared)}</td></tr>`,
		)
		.join('\n');
	const queueTable =
		queue.length === 0
			? '<p>None: every failed lead was delivered or closed.</p>'
			: table(
					['reason', 'waiting for a retry', 'dead (needs a person)'],
					queue.map((item) => [
						{ text: item.reason, header: true },
						{ text: String(item.waiting), number: true },
						{ text: String(item.dead), number: true },
					]),
					'queue',
				);

	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escape(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<p class="ledger ledger-${ledger.verdict}" id="ledger" role="status"><span class="mark" aria-hidden="true">${VERDICT_MARK[ledger.verdict]}</span> ${escape(ledger.text)}</p>
<h1>${escape(title)}</h1>
<p class="summary">${escape(summarySentence(day))}</p>

<section aria-labelledby="numbers-title">
<h2 id="numbers-title">The day’s numbers</h2>
<table id="numbers">
<thead><tr><th scope="col">measure</th><th scope="col">this day</th><th scope="col">share of received</th><th scope="col">previous ${COMPARED_DAYS} days</th></tr></thead>
<tbody>
${measures}
</tbody>
</table>
</section>

<section aria-labelledby="time-title">
<h2 id="time-title">Time from intake to CRM</h2>
<p>Of the leads received this day that reached the CRM, from the moment the processor received each one to the moment the CRM confirmed it (retries included):</p>
<dl class="times" id="times">
<div data-measure="p50_processing_ms" data-value="${day.p50_processing_ms ?? ''}"><dt>median (p50)</dt><dd>${escape(durationText(day.p50_processing_ms))}</dd><dd class="note">half of them took at most this long</dd></div>
<div data-measure="p95_processing_ms" data-value="${day.p95_processing_ms ?? ''}"><dt>95th percentile (p95)</dt><dd>${escape(durationText(day.p95_processing_ms))}</dd><dd class="note">the slowest 5 % waited longer</dd></div>
</dl>
</section>

<section aria-labelledby="queue-title">
<h2 id="queue-title">Leads in the retry queue now, by reason</h2>
${queueTable}
</section>

<section aria-labelledby="trend-title">
<h2 id="trend-title">The last ${days.length} days</h2>
${figure('leads', charts.leads, 'Leads per day: received, delivered, rejected and failed.', days, LEAD_SERIES, (value) => String(value ?? 0))}
${figure('time-to-crm', charts.timeToCrm, 'Time from intake to CRM per day: median and 95th percentile (a gap: no lead delivered that day).', days, TIME_SERIES, durationText)}
</section>

<footer>Computed at ${escape(day.computed_at.toISOString())}. kpi_${escape(day.day)}.csv holds the same daily rows; kpi_${escape(day.day)}.md is this report as text.</footer>
</main>
</body>
</html>
`;
}

function figure(
	id: string,
	svg: string,
	caption: string,
	days: KpiRow[],
	series: readonly { key: keyof KpiRow; label: string }[],
	show: (value: number | null) => string,
): string {
	const rows = days.map((row) => [
		{ text: row.day, header: true },
		...series.map((item) => {
			const value = row[item.key] as number | null;
			return { text: show(value), number: true, value: value ?? '' };
		}),
	]);
	return `<figure id="chart-${id}">
<div class="chart">${svg}</div>
<figcaption>${escape(caption)}</figcaption>
<details><summary>The numbers in this chart</summary>
${table(['day', ...series.map((item) => item.label)], rows, `data-${id}`)}
</details>
</figure>`;
}

interface Cell {
	text: string;
	header?: boolean;
	number?: boolean;
	value?: number | string;
}

function table(headings: string[], rows: Cell[][], id: string): string {
	const head = headings.map((text) => `<th scope="col">${escape(text)}</th>`).join('');
	const body = rows
		.map(
			(cells) =>
				`<tr>${cells
					.map((cell) => {
						const value =
							cell.value === undefined ? '' : ` data-value="${escape(String(cell.value))}"`;
						return cell.header
							? `<th scope="row">${escape(cell.text)}</th>`
							: `<td${cell.number ? ' class="number"' : ''}${value}>${escape(cell.text)}</td>`;
					})
					.join('')}</tr>`,
		)
		.join('\n');
	return `<table id="${id}">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function escape(text: string): string {
	return text.replace(
		/[&<>"']/g,
		(char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
	);
}

const STYLE = `
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; background: #fff; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 0.25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid #ccc; }
.ledger { font-weight: 600; padding: 0.75rem 1rem; border: 2px solid; border-radius: 4px; }
.ledger .mark { font-size: 1.2em; }
.ledger-balanced { border-color: #009E73; background: #e9f7f2; }
.ledger-unbalanced { border-color: #D55E00; background: #fcefe6; border-style: double; border-width: 4px; }
.ledger-unknown { border-color: #888; border-style: dashed; background: #f4f4f4; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { padding: 0.3rem 0.75rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #999; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
dl.times { display: flex; gap: 2rem; flex-wrap: wrap; }
dl.times div { border: 1px solid #ccc; border-radius: 4px; padding: 0.5rem 1rem; }
dl.times dt { font-size: 0.9rem; }
dl.times dd { margin: 0; font-size: 1.6rem; font-weight: 600; }
dl.times dd.note { font-size: 0.85rem; font-weight: normal; color: #555; }
figure { margin: 1rem 0 2rem; }
.chart svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #444; }
details { margin-top: 0.5rem; }
footer { margin-top: 2rem; font-size: 0.85rem; color: #555; }
`;
