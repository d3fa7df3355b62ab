import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { KpiRow } from '../db/kpi.js';

/*
 * The daily report's trend charts, drawn at report time as SVG by Vega-Lite and Vega in Node:
 * no canvas, no browser, no network (the data is inline, the renderer is 'none'). Each series
 * has its own dash pattern and point shape as well as its colour, so the charts read in black
 * and white; the page shows the same numbers as tables beside them.
 */

export interface TrendCharts {
	/** Leads received, delivered, rejected and failed per day. */
	leads: string;
	/** p50 and p95 time from intake to CRM per day. */
	timeToCrm: string;
}

/** Colour-blind safe (Okabe-Ito), and never the only difference between two series. */
const PALETTE = ['#0072B2', '#009E73', '#D55E00', '#CC79A7'];
const DASHES = [
	[1, 0],
	[6, 3],
	[2, 2],
	[8, 3, 2, 3],
];
const SHAPES = ['circle', 'square', 'triangle-up', 'diamond'];

export const LEAD_SERIES = [
	{ key: 'received_count', label: 'received' },
	{ key: 'processed_count', label: 'delivered' },
	{ key: 'rejected_count', label: 'rejected' },
	{ key: 'failed_count', label: 'failed' },
] as const;

export const TIME_SERIES = [
	{ key: 'p50_processing_ms', label: 'median (p50)' },
	{ key: 'p95_processing_ms', label: '95th percentile (p95)' },
] as const;

export async function renderTrendCharts(rows: KpiRow[]): Promise<TrendCharts> {
	const leads = rows.flatMap((row) =>
		LEAD_SERIES.map((series) => ({ day: row.day, series: series.label, value: row[series.key] })),
	);
	const times = rows.flatMap((row) =>
		TIME_SERIES.map((series) => {
			const value = row[series.key];
			// a log axis has no zero: anything under a millisecond is drawn at 1 ms
			return {
				day: row.day,
				series: series.label,
				value: value === null ? null : Math.max(value, 1),
			};
		}),
	);
	const ticks = durationTicks(times.map((point) => point.value));
	const [leadsSvg, timeSvg] = await Promise.all([
		toSvg(
			lineChart({
				values: leads,
				series: LEAD_SERIES.map((series) => series.label),
				title: 'Leads per day',
				description: `Leads received, delivered, rejected and failed per day, ${rangeText(rows)}.`,
				yTitle: 'leads',
				yScale: { type: 'linear', zero: true },
				yTicks: null,
			}),
		),
		toSvg(
			lineChart({
				values: times,
				series: TIME_SERIES.map((series) => series.label),
				title: 'Time from intake to CRM (log scale)',
				description: `Median and 95th percentile time from intake to CRM of the leads delivered each day, ${rangeText(rows)}.`,
				yTitle: 'time to CRM',
				yScale: { type: 'log', domain: [ticks[0]!, ticks.at(-1)!] },
				yTicks: ticks,
			}),
		),
	]);
	return { leads: leadsSvg, timeToCrm: timeSvg };
}

/** Axis labels for milliseconds: `250 ms`, `5 s`, `2 min`, `6 h`. */
const DURATION_LABEL =
	"datum.value < 1000 ? format(datum.value, '~r') + ' ms' : datum.value < 60000 ? format(datum.value / 1000, '~r') + ' s' : datum.value < 3600000 ? format(datum.value / 60000, '~r') + ' min' : format(datum.value / 3600000, '~r') + ' h'";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Round durations a reader knows, for the ticks of the time axis. */
const NICE_DURATIONS = [
	1,
	2,
	5,
	10,
	20,
	50,
	100,
	200,
	500,
	SECOND,
	2 * SECOND,
	5 * SECOND,
	10 * SECOND,
	30 * SECOND,
	MINUTE,
	2 * MINUTE,
	5 * MINUTE,
	15 * MINUTE,
	30 * MINUTE,
	HOUR,
	2 * HOUR,
	6 * HOUR,
	12 * HOUR,
	24 * HOUR,
	48 * HOUR,
	96 * HOUR,
];

/** At most seven round durations spanning the values (a log axis of its own picks odd ones). */
function durationTicks(values: (number | null)[]): number[] {
	const present = values.filter((value): value is number => value !== null && value > 0);
	if (present.length === 0) return [SECOND];
	const low = Math.min(...present);
	const high = Math.max(...present);
	const from = NICE_DURATIONS.findLastIndex((tick) => tick <= low);
	const to = NICE_DURATIONS.findIndex((tick) => tick >= high);
	const span = NICE_DURATIONS.slice(Math.max(0, from), to === -1 ? NICE_DURATIONS.length : to + 1);
	const step = Math.ceil(span.length / 7);
	return span.filter((_, index) => index % step === 0 || index === span.length - 1);
}

interface LineChart {
	values: { day: string; series: string; value: number | null }[];
	series: string[];
	title: string;
	description: string;
	yTitle: string;
	yScale: { type: 'linear'; zero: true } | { type: 'log'; domain: [number, number] };
	/** Tick values of a duration axis (null: a count axis). */
	yTicks: number[] | null;
}

function lineChart(chart: LineChart): TopLevelSpec {
	const legend = {
		orient: 'top' as const,
		title: null,
		symbolSize: 100,
		labelFontSize: 12,
		labelLimit: 0,
	};
	const scale = <T>(range: T[]) => ({
		domain: chart.series,
		range: range.slice(0, chart.series.length),
	});
	return {
		title: { text: chart.title, anchor: 'start', fontSize: 14 },
		description: chart.description,
		width: 620,
		height: 220,
		background: '#ffffff',
		data: { values: chart.values },
		encoding: {
			x: {
				field: 'day',
				type: 'ordinal',
				title: 'day (UTC)',
				axis: { labelAngle: 0, labelExpr: 'slice(datum.value, 5)' },
			},
			y: {
				field: 'value',
				type: 'quantitative',
				title: chart.yTitle,
				scale: chart.yScale,
				axis: chart.yTicks
					? { labelExpr: DURATION_LABEL, values: chart.yTicks }
					: { tickMinStep: 1 },
			},
			color: { field: 'series', type: 'nominal', scale: scale(PALETTE), legend },
			strokeDash: { field: 'series', type: 'nominal', scale: scale(DASHES), legend },
			shape: { field: 'series', type: 'nominal', scale: scale(SHAPES), legend },
		},
		mark: {
			type: 'line',
			strokeWidth: 2,
			point: { filled: true, size: 60 },
			invalid: 'break-paths-show-path-domains',
		},
		config: { font: 'sans-serif', view: { stroke: null } },
	} as TopLevelSpec;
}

async function toSvg(spec: TopLevelSpec): Promise<string> {
	const view = new View(parse(compile(spec).spec), { renderer: 'none' });
	try {
		return await view.toSVG();
	} finally {
		view.finalize();
	}
}

function rangeText(rows: KpiRow[]): string {
	return rows.length === 0 ? 'no days' : `${rows[0]!.day} to ${rows.at(-1)!.day} (UTC)`;
}
