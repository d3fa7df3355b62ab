import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM_ARGS, ensureChromium, repoRoot } from '@lead-intake-hub/stack';
import { chromium } from 'playwright-core';
import { durationText } from '../src/kpi/report.js';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

/**
 * The daily report's three files (issue: reports people read): their numbers agree with SQL over
 * `runs` for every day of the trend, and the HTML page renders in headless Chromium with its
 * charts and without a single request leaving the file.
 */
const browser = await ensureChromium((line) => console.log(line));
const DAYS = 14;
let stack: Stack;
let today: string;
let expected: Map<string, DayFigures>;
let files: { md: string; csv: string; html: string };

interface DayFigures {
	received: number;
	processed: number;
	rejected: number;
	failed: number;
	p50: number | null;
	p95: number | null;
}

beforeAll(async () => {
	stack = await startStack({ env: { ALERTS_PASS_SECONDS: '0' } });
	today = stack.clock.now.toISOString().slice(0, 10);
	await seedEarlierDays();
	// today, through the intake: delivered, a duplicate, rejected, failed (waits in the queue)
	await postLead(stack.url, validLead(), { key: 'report-1' });
	await postLead(stack.url, validLead(), { key: 'report-1' });
	await postLead(stack.url, validLead(), { key: 'report-2' });
	await postLead(stack.url, validLead({ address: { zip: '10115' } }), { key: 'report-3' });
	await stack.crm.fail(1, 503);
	await postLead(stack.url, validLead(), { key: 'report-4' });

	const answer = await stack.internal('POST', '/internal/kpi/compute-daily', { date: today });
	expect(answer.status).toBe(200);
	const read = (ext: string) => readFile(join(stack.alertsDir, `kpi_${today}.${ext}`), 'utf8');
	files = { md: await read('md'), csv: await read('csv'), html: await read('html') };
	expected = await figuresFromRuns();
});
afterAll(() => stack.close());

/** Runs of the 13 days before today straight into the record: delivered ones with known times. */
async function seedEarlierDays(): Promise<void> {
	for (let back = 1; back < DAYS; back++) {
		const day = shift(today, -back);
		const delivered = 2 + (back % 4);
		for (let index = 0; index < delivered; index++) {
			// one lead a day waited for a retry: the mean would hide what p95 shows
			const ms = index === 0 && back % 2 === 0 ? 65_000 : 100 * (index + back);
			await insertRun(day, index, 'processed', ms);
		}
		if (back % 2 === 1) await insertRun(day, 100, 'rejected', null);
		if (back % 3 === 0) await insertRun(day, 200, 'failed', null);
	}
}

async function insertRun(day: string, index: number, status: string, ms: number | null) {
	const receivedAt = new Date(`${day}T10:00:00Z`);
	receivedAt.setUTCMinutes(index);
	await stack.sql`
		INSERT INTO runs (run_id, idempotency_key, fingerprint, source, received_at, status,
			rejection_reasons, processed_at, crm_id)
		VALUES (gen_random_uuid(), ${`seed-${day}-${index}`}, 'seed', 'seed', ${receivedAt}, ${status},
			${status === 'rejected' ? ['zip_not_allowed'] : null},
			${ms === null ? null : new Date(receivedAt.getTime() + ms)},
			${status === 'processed' ? `crm-seed-${day}-${index}` : null})`;
}

/** The truth, computed here from the raw rows (percentiles interpolated like percentile_cont). */
async function figuresFromRuns(): Promise<Map<string, DayFigures>> {
	const rows = await stack.sql<{ day: string; status: string; ms: string | null }[]>`
		SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, status,
			extract(epoch FROM processed_at - received_at) * 1000 AS ms
		FROM runs`;
	const figures = new Map<string, DayFigures>();
	for (let back = DAYS - 1; back >= 0; back--) {
		const day = shift(today, -back);
		const of = rows.filter((row) => row.day === day);
		const count = (status: string) => of.filter((row) => row.status === status).length;
		const times = of
			.filter((row) => row.status === 'processed')
			.map((row) => Number(row.ms))
			.sort((a, b) => a - b);
		figures.set(day, {
			received: of.length,
			processed: count('processed'),
			rejected: count('rejected'),
			failed: count('failed'),
			p50: percentile(times, 0.5),
			p95: percentile(times, 0.95),
		});
	}
	return figures;
}

function percentile(sorted: number[], fraction: number): number | null {
	if (sorted.length === 0) return null;
	const position = fraction * (sorted.length - 1);
	const low = Math.floor(position);
	const high = Math.min(low + 1, sorted.length - 1);
	return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

function shift(day: string, days: number): string {
	const date = new Date(`${day}T00:00:00Z`);
	date.setUTCDate(date.getUTCDate() + days);
	return date.toISOString().slice(0, 10);
}

/** Stored with one decimal: equal to the truth within half of that. */
function expectMs(actual: number | null, truth: number | null) {
	if (truth === null) return expect(actual).toBeNull();
	expect(actual).not.toBeNull();
	expect(Math.abs(actual! - truth)).toBeLessThanOrEqual(0.05 + 1e-9);
}

function csvRows(): Map<string, Record<string, string>> {
	const [header, ...lines] = files.csv.trimEnd().split('\n');
	const columns = header!.split(',');
	return new Map(
		lines.map((line) => {
			const cells = line.split(',');
			const row = Object.fromEntries(columns.map((column, index) => [column, cells[index]!]));
			return [row.day!, row];
		}),
	);
}

const optionalMs = (text: string | undefined) => (text ? Number(text) : null);

test('the CSV holds the 14 days of the trend, each equal to SQL over runs', () => {
	const rows = csvRows();
	expect([...rows.keys()]).toEqual([...expected.keys()]);
	expect(expected.get(today)).toMatchObject({ received: 4, processed: 2, rejected: 1, failed: 1 });
	for (const [day, truth] of expected) {
		const row = rows.get(day)!;
		expect({
			day,
			received: +row.received!,
			processed: +row.processed!,
			rejected: +row.rejected!,
			failed: +row.failed!,
		}).toEqual({
			day,
			received: truth.received,
			processed: truth.processed,
			rejected: truth.rejected,
			failed: truth.failed,
		});
		expectMs(optionalMs(row.p50_processing_ms), truth.p50);
		expectMs(optionalMs(row.p95_processing_ms), truth.p95);
	}
	// a day with a retried lead: the 95th percentile shows the wait the median hides
	const retriedDay = expected.get(shift(today, -2))!;
	expect(retriedDay.p95!).toBeGreaterThan(30_000);
	expect(retriedDay.p50!).toBeLessThan(1_000);
	expect(rows.get(today)).toMatchObject({ duplicates: '1', dlq_open: '1' });
});

test('the Markdown report: ledger line first, then the day’s numbers as in SQL', () => {
	const lines = files.md.split('\n');
	const truth = expected.get(today)!;
	expect(lines[0]).toMatch(
		new RegExp(
			`^\\*\\*Every lead received on ${today} is accounted for: ${truth.received} received = `,
		),
	);
	expect(lines[2]).toBe(`# Lead Intake daily report — ${today} (UTC)`);
	const row = csvRows().get(today)!;
	expect(files.md).toContain(`| leads received | ${truth.received} |`);
	expect(files.md).toContain(`| delivered to the CRM (processed) | ${truth.processed} | 50.0 % |`);
	expect(files.md).toContain(`| refused by the rules (rejected) | ${truth.rejected} | 25.0 % |`);
	expect(files.md).toContain(`| not delivered yet (failed) | ${truth.failed} | 25.0 % |`);
	expect(files.md).toContain(
		`- half of them took at most **${durationText(optionalMs(row.p50_processing_ms))}** (median, p50);`,
	);
	expect(files.md).toContain(
		`- 95 % took at most **${durationText(optionalMs(row.p95_processing_ms))}** (p95)`,
	);
	expect(files.md).toContain('| crm_http_503 | 1 | 0 |');
	expect(files.md).not.toContain('average time');
});

test('the HTML report carries the same numbers as the CSV and needs nothing from outside', () => {
	const { html } = files;
	const truth = expected.get(today)!;
	const value = (measure: string) =>
		new RegExp(`<tr data-measure="${measure}">.*?data-value="(\\d+)"`).exec(html)?.[1];
	expect(value('received_count')).toBe(String(truth.received));
	expect(value('processed_count')).toBe(String(truth.processed));
	expect(value('rejected_count')).toBe(String(truth.rejected));
	expect(value('failed_count')).toBe(String(truth.failed));
	expect(html.indexOf('id="ledger"')).toBeLessThan(html.indexOf('<h1>'));
	expect(html).toContain(`Every lead received on ${today} is accounted for`);
	// self-contained: no script, no link, no source or url() to load, a policy that forbids it
	expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|url\(|@import/i);
	expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
	expect(html.match(/<svg /g)).toHaveLength(2);
});

const inChromium = browser.path === null ? test.skip : test;
const skipReason = browser.path === null ? ` (skipped: ${browser.reason})` : '';

inChromium(
	`the HTML report in headless Chromium: charts drawn, figures match the CSV, no request leaves the file${skipReason}`,
	async () => {
		const instance = await chromium.launch({ executablePath: browser.path!, args: CHROMIUM_ARGS });
		try {
			const context = await instance.newContext({ viewport: { width: 1000, height: 900 } });
			const requests: string[] = [];
			context.on('request', (request) => requests.push(request.url()));
			await context.route('**/*', (route) =>
				route.request().url().startsWith('file:') ? route.continue() : route.abort(),
			);
			const page = await context.newPage();
			const errors: string[] = [];
			page.on('console', (message) => {
				if (message.type() === 'error') errors.push(message.text());
			});
			const url = pathToFileURL(join(stack.alertsDir, `kpi_${today}.html`)).href;
			await page.goto(url);

			expect(await page.locator('#ledger').innerText()).toContain('is accounted for');
			const rows = csvRows();
			const shown = await page.$$eval('#data-leads tbody tr', (trs) =>
				trs.map((tr) => [...tr.children].map((cell) => cell.textContent)),
			);
			expect(shown).toEqual(
				[...rows.values()].map((row) => [
					row.day,
					row.received,
					row.processed,
					row.rejected,
					row.failed,
				]),
			);
			const times = await page.$$eval('#data-time-to-crm tbody tr td', (tds) =>
				tds.map((td) => td.getAttribute('data-value')),
			);
			expect(times).toEqual(
				[...rows.values()].flatMap((row) => [row.p50_processing_ms, row.p95_processing_ms]),
			);

			// the charts: inline SVG with a point per day and series, each labelled with its value
			const leadPoints = await page.$$eval(
				'#chart-leads svg [aria-roledescription="point"]',
				(points) => points.map((point) => point.getAttribute('aria-label')),
			);
			expect(leadPoints).toHaveLength(DAYS * 4);
			expect(leadPoints).toContain(
				`day (UTC): ${today}; leads: ${expected.get(today)!.received}; series: received`,
			);
			const timePoints = await page
				.locator('#chart-time-to-crm svg [aria-roledescription="point"]')
				.count();
			expect(timePoints).toBe([...expected.values()].filter((day) => day.p50 !== null).length * 2);
			const box = await page.locator('#chart-leads svg').boundingBox();
			expect(box!.width).toBeGreaterThan(300);

			const artifacts = join(repoRoot, '.data', 'test-artifacts');
			await mkdir(artifacts, { recursive: true });
			await page.screenshot({ path: join(artifacts, 'kpi-report.png'), fullPage: true });

			expect(requests).toEqual([url]);
			expect(errors).toEqual([]);
		} finally {
			await instance.close();
		}
	},
	60_000,
);
