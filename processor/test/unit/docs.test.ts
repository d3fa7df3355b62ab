import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, SETTING_NAMES } from '../../src/config.js';
import { BACKOFF_PRESETS } from '../../src/crm/backoff.js';
import { CSV_HEADER } from '../../src/kpi/report.js';
import { openApiDocument } from '../../src/openapi/openapi.js';
import { ATTEMPT_TRIGGERS, DLQ_STATUSES, EVENT_TYPES, RUN_STATUSES } from '../../src/vocabulary.js';

/** The docs' tables that can be read mechanically, held to the code they describe. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const doc = (name: string) => readFileSync(join(repoRoot, 'docs', name), 'utf8');

/** The text of a section, from its heading to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
	const start = markdown.indexOf(`\n${heading}\n`);
	if (start < 0) throw new Error(`no section "${heading}"`);
	const level = heading.indexOf(' ');
	const rest = markdown.slice(start + heading.length + 2);
	const next = rest.search(new RegExp(`^#{1,${level}} `, 'm'));
	return next < 0 ? rest : rest.slice(0, next);
}

/** The first column of each row of the first table in `text` (header and rule left out). */
function firstColumn(text: string): string[] {
	const lines = text.split('\n');
	const start = lines.findIndex((line) => line.startsWith('|'));
	const end = lines.findIndex((line, index) => index > start && !line.startsWith('|'));
	const rows = lines.slice(start + 2, end < 0 ? undefined : end);
	return rows.map((row) => row.split('|')[1]!.trim());
}

/** The code spans of a text, each on one line: "`PORT`, `HOST`" -> ["PORT", "HOST"]. */
const codeSpans = (text: string) =>
	[...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!.replace(/\s+/g, ' '));

const sorted = (values: Iterable<string>) => [...values].sort();

test('operations.md: every variable the processor reads is in the settings table, and every one there is read', () => {
	const documented = firstColumn(section(doc('operations.md'), '## Settings')).flatMap(codeSpans);
	expect(new Set(documented).size).toBe(documented.length);
	expect(sorted(documented)).toEqual(sorted(SETTING_NAMES));
});

test('the settings the processor cannot start without are the ones the docs call required', () => {
	let message = '';
	try {
		loadConfig({});
	} catch (error) {
		message = (error as Error).message;
	}
	const required = [...message.matchAll(/^ {2}([A-Z0-9_]+):/gm)].map((match) => match[1]!);
	expect(required.length).toBeGreaterThan(0);
	const rows = section(doc('operations.md'), '## Settings')
		.split('\n')
		.filter((line) => line.startsWith('| `') && line.split('|')[3]!.trim() === 'required');
	expect(sorted(rows.flatMap((row) => codeSpans(row.split('|')[1]!)))).toEqual(sorted(required));
	const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
	const sentence = /refuses to start without ([^]*?),\s+naming/.exec(readme)![1]!;
	expect(sorted(codeSpans(sentence))).toEqual(sorted(required));
});

test('every repository path the README and the docs name exists', () => {
	const texts = [
		'README.md',
		...['docs', 'docs/adr'].flatMap((dir) =>
			readdirSync(join(repoRoot, dir))
				.filter((name) => name.endsWith('.md'))
				.map((name) => join(dir, name)),
		),
	];
	const top = /^(processor|stack|nodes|credentials|icons|test|docs|db|mocks|workflows|docker)\//;
	const missing = texts.flatMap((file) =>
		codeSpans(readFileSync(join(repoRoot, file), 'utf8'))
			.filter((span) => top.test(span) && !/[<>*{} ]/.test(span))
			.filter((path) => !existsSync(join(repoRoot, path)))
			.map((path) => `${file}: ${path}`),
	);
	expect(missing).toEqual([]);
});

describe('contract.md', () => {
	const contract = doc('contract.md');
	const record = section(contract, '## The record');

	test('the run statuses table lists exactly the vocabulary', () => {
		expect(sorted(firstColumn(record).flatMap(codeSpans))).toEqual(sorted(RUN_STATUSES));
	});

	test('the DLQ statuses and attempt triggers are the vocabulary', () => {
		const dlq = record.slice(record.indexOf('**DLQ items**'));
		const statuses = [...dlq.slice(0, dlq.indexOf('\n\n')).matchAll(/`([a-z_]+)`\s+\(/g)];
		expect(sorted(statuses.map((match) => match[1]!))).toEqual(sorted(DLQ_STATUSES));
		const attempts = record.slice(record.indexOf('**Delivery attempts**'));
		const triggers = /trigger \(([^)]+)\)/.exec(attempts)![1]!;
		expect(sorted(codeSpans(triggers))).toEqual(sorted(ATTEMPT_TRIGGERS));
	});

	test('the audit events table lists every event type once', () => {
		const events = record.slice(record.indexOf('**Audit events**'));
		const documented = firstColumn(events).flatMap(codeSpans);
		expect(documented).toHaveLength(new Set(documented).size);
		expect(sorted(documented)).toEqual(sorted(EVENT_TYPES));
	});

	test('the retry presets table gives each preset its schedule and retries', () => {
		const unit: Record<string, number> = { s: 1, min: 60, h: 3600 };
		const rows = section(contract, '## Retries')
			.split('\n')
			.filter((line) => line.startsWith('| `'));
		const documented = Object.fromEntries(
			rows.map((row) => {
				const [, name, delays, retries] = row.split('|').map((cell) => cell.trim());
				const seconds = delays!.split(', ').map((delay) => {
					const [amount, of] = delay.split(' ');
					return Number(amount) * unit[of!]!;
				});
				expect([name, Number(retries)]).toEqual([name, seconds.length]);
				return [codeSpans(name!)[0]!, seconds];
			}),
		);
		expect(documented).toEqual(
			Object.fromEntries(
				Object.entries(BACKOFF_PRESETS).map(([name, delays]) => [name, [...delays]]),
			),
		);
	});

	test('the operator API table is the OpenAPI document: endpoints, query parameters and body fields', () => {
		type Operation = {
			parameters?: { in: string; name: string }[];
			requestBody?: { content: Record<string, { schema: { properties?: object } }> };
		};
		const paths = openApiDocument.paths as Record<string, Record<string, Operation>>;
		const fromCode = Object.entries(paths)
			.filter(([path]) => path.startsWith('/internal/'))
			.flatMap(([path, operations]) =>
				Object.entries(operations).map(([method, operation]) => {
					const query = (operation.parameters ?? []).filter(
						(parameter) => parameter.in === 'query',
					);
					const body = operation.requestBody?.content['application/json']?.schema.properties;
					return {
						endpoint: `${method.toUpperCase()} ${path}`,
						query: sorted(query.map((parameter) => parameter.name)),
						body: body ? sorted(Object.keys(body)) : [],
					};
				}),
			);

		/**
		 * An endpoint as written: "`GET /internal/dlq?status&limit`", "`POST /internal/dlq/retry-due {limit?}`".
		 * In the table a missing query or body means none; elsewhere, and as `{…}`, it is not stated.
		 */
		const parse = (span: string, inTable: boolean) => {
			const [, method, path, query, body] =
				/^(GET|POST|PUT|PATCH|DELETE) (\S+?)(?:\?(\S+))?(?: \{(.*)\})?$/.exec(span)!;
			const unstated = inTable ? [] : null;
			return {
				endpoint: `${method} ${path}`,
				query: query === undefined ? unstated : sorted(query.split('&')),
				body:
					body === undefined
						? unstated
						: body === '…'
							? null
							: sorted(body.split(/, ?/).map((field) => field.replace(/\?$/, ''))),
			};
		};
		const inCode = (entry: ReturnType<typeof parse>) => {
			const code = fromCode.find((candidate) => candidate.endpoint === entry.endpoint);
			return {
				endpoint: code?.endpoint,
				query: entry.query === null ? null : code?.query,
				body: entry.body === null ? null : code?.body,
			};
		};
		const table = firstColumn(section(contract, '## Operator API'))
			.flatMap(codeSpans)
			.map((span) => parse(span, true));
		expect(sorted(table.map((entry) => entry.endpoint))).toEqual(
			sorted(fromCode.map((entry) => entry.endpoint)),
		);
		for (const entry of table) expect(entry).toEqual(inCode(entry));
		// the other mentions of an operator endpoint on the page
		const body = contract.replace(section(contract, '## Operator API'), '');
		const mentions = codeSpans(body)
			.filter((span) => /^(GET|POST|PUT|PATCH|DELETE) \/internal\//.test(span))
			.map((span) => parse(span, false));
		expect(mentions.length).toBeGreaterThan(0);
		for (const entry of mentions) expect(entry).toEqual(inCode(entry));
	});
});

test("reports.md gives the daily CSV's header as the report writes it", () => {
	const csv = section(doc('reports.md'), '## The daily report');
	const header = codeSpans(csv).find((span) => span.startsWith('day,'));
	expect(header).toBe(CSV_HEADER);
});
