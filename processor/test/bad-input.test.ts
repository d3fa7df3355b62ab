import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { startMockCrm, type RunningServer } from '@lead-intake-hub/mocks';
import { connect, type Sql } from '../src/db/connection.js';
import { signingKeys, signV1, signV2 } from '../src/intake/signature.js';
import { TIMEOUT_CHECK_MS } from '../src/processor.js';
import { TEST_SECRET, TEST_SERVICE_TOKEN, testDatabase } from './support/harness.js';
import { startProcessorProcess, type ProcessorProcess } from './support/processes.js';
import {
	streamRequest,
	streamWithNodeClient,
	type StreamedAnswer,
} from './support/streaming-client.js';

/*
 * The bad-input suite: thousands of generated malformed bodies, headers, encodings, sizes and
 * operator parameters against a running processor process. Every answer must be one of the
 * documented 4xx (docs/hostile-input.md) with a JSON body carrying `code` and `correlation_id`;
 * nothing may be written beyond what a case allows; the process stays up, its memory flat, and a
 * concurrent /health and /livez keep answering quickly (no event-loop blocking).
 *
 * Deterministic: every property runs the seeds recorded in bad-input.seeds.json, its cases
 * spread over them, so every run sends the same cases. FUZZ_RANDOM=1 adds one random seed
 * (printed); a failure prints its seed, path and shrunk counterexample, and FUZZ_SEED=<seed>
 * FUZZ_PATH=<path> (with -t naming the test) replays exactly that case. BAD_INPUT_SCALE=10 runs
 * ten times as many cases.
 */

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/**
 * node checks the timeouts every TIMEOUT_CHECK_MS (processor.ts): a slow client is cut off by
 * then, give or take the scheduling of two busy processes on a shared machine.
 */
const CUT_OFF_SLACK_MS = TIMEOUT_CHECK_MS + 500;
const BODY_LIMIT = 256 * 1024;
const SCALE = Number(process.env.BAD_INPUT_SCALE ?? 1);
const RECORDED_SEEDS = (
	JSON.parse(readFileSync(new URL('./bad-input.seeds.json', import.meta.url), 'utf8')) as {
		seeds: { seed: number }[];
	}
).seeds.map(({ seed }) => seed);
const REPLAY_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : null;
const REPLAY_PATH = process.env.FUZZ_PATH || undefined;
// opt-in only: CI runs the recorded seeds, the same cases every time
const RANDOM_SEED = process.env.FUZZ_RANDOM ? Math.floor(Math.random() * 2 ** 31) : null;
const SEEDS =
	REPLAY_SEED !== null
		? [REPLAY_SEED]
		: [...RECORDED_SEEDS, ...(RANDOM_SEED === null ? [] : [RANDOM_SEED])];
if (RANDOM_SEED !== null) {
	console.log(
		`bad-input suite: random seed ${RANDOM_SEED} added (replay: FUZZ_SEED=${RANDOM_SEED})`,
	);
}
const runs = (count: number) => Math.max(1, Math.round(count * SCALE));
/** A property's cases, spread over the seeds. */
const runsPerSeed = (count: number) => Math.max(1, Math.ceil(runs(count) / SEEDS.length));
const SIGNATURE_REFUSALS = [
	'signature_missing',
	'signature_invalid',
	'signature_scheme_disabled',
	'timestamp_invalid',
	'timestamp_out_of_window',
	'webhook_id_invalid',
];

let processor: ProcessorProcess;
let port: number;
let crm: RunningServer;
let sql: Sql;
let database: Awaited<ReturnType<typeof testDatabase>>;
let alertsDir: string;
let poller: Worker;
let suiteStarted = 0;
const rss: { at: string; kb: number }[] = [];
/** Answers seen, as "status code" -> count. */
const answers = new Map<string, number>();
/** Cases generated per class. */
const generated = new Map<string, number>();
/** Leads meant to be recorded (valid shape, refused by the rules): each may write one run. */
let recordedLeads = 0;

beforeAll(async () => {
	database = await testDatabase();
	crm = await startMockCrm({ token: 'bad-input-crm-token' });
	alertsDir = await mkdtemp(join(tmpdir(), 'lih-bad-input-'));
	processor = await startProcessorProcess({
		DATABASE_URL: database.url,
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'bad-input-salt-0123',
		LEAD_ENCRYPTION_KEY: 'bad-input-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		MOCK_CRM_URL: `${crm.url}/leads/upsert`,
		CRM_TOKEN: 'bad-input-crm-token',
		ALERTS_DIR: alertsDir,
		HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
		HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
		// every refused signature and token must reach its check, not the per-client limits
		// (limits.test.ts)
		REFUSED_PER_MINUTE: '1000000',
		REFUSED_TOKENS_PER_MINUTE: '1000000',
		RATE_LIMIT_PER_MINUTE: '1000000',
	});
	port = Number(new URL(processor.url).port);
	sql = connect(database.url, { maxConnections: 2 });
	poller = startHealthPoller(processor.url);
	suiteStarted = Date.now();
	// warm up (JIT, pools) before the first memory reading
	for (let i = 0; i < 200; i++) await exchange([request({ body: Buffer.from('{}') })]);
	rss.push({ at: 'after warm-up', kb: await rssKb() });
}, 60_000);

afterAll(async () => {
	await poller?.terminate();
	await processor?.kill('SIGTERM');
	await sql?.end();
	await crm?.close();
	await database?.drop();
	await rm(alertsDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: exact bytes out (duplicate headers, lying lengths, trickling), one
// connection per case, the answer parsed by hand.

interface Answer {
	/** 0: the connection closed without an answer. */
	status: number;
	headers: Record<string, string>;
	body: string;
	ms: number;
}

type Piece = Buffer | { pauseMs: number };

interface RequestSpec {
	method?: string;
	path?: string;
	headers?: (readonly [string, string])[];
	body?: Buffer;
	/** Content-Length as sent (default: the body's length; null: none). */
	contentLength?: string | null;
}

function request(spec: RequestSpec): Buffer {
	const body = spec.body ?? Buffer.alloc(0);
	const lines = [`${spec.method ?? 'POST'} ${spec.path ?? '/webhook/lead'} HTTP/1.1`];
	const headers = spec.headers ?? [];
	if (!headers.some(([name]) => name.toLowerCase() === 'host')) lines.push('Host: 127.0.0.1');
	if (!headers.some(([name]) => name.toLowerCase() === 'connection'))
		lines.push('Connection: close');
	const length = spec.contentLength === undefined ? String(body.length) : spec.contentLength;
	if (length !== null) lines.push(`Content-Length: ${length}`);
	for (const [name, value] of headers) lines.push(`${name}: ${value}`);
	return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function exchange(
	pieces: Piece[],
	options: { head?: boolean; timeoutMs?: number } = {},
): Promise<Answer> {
	const timeoutMs = options.timeoutMs ?? 15_000;
	return new Promise((resolve, reject) => {
		const started = performance.now();
		// Thousands of connections must not take the ports other suites running beside this one
		// pick with freePort() and then listen on (127.0.0.1): these come from 127.0.0.2, and the
		// server is left to close first (Connection: close), so no client port waits in TIME_WAIT.
		const socket = connectTcp({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
		let received = Buffer.alloc(0);
		let done = false;
		const finish = (answer: Omit<Answer, 'ms'> | Error) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			if (socket.readableEnded || answer instanceof Error) socket.destroy();
			else setTimeout(() => socket.destroy(), 500).unref();
			if (answer instanceof Error) reject(answer);
			else resolve({ ...answer, ms: performance.now() - started });
		};
		const timer = setTimeout(
			() => finish(new Error(`no answer within ${timeoutMs} ms: the processor hangs`)),
			timeoutMs,
		);
		const parse = (closed: boolean) => {
			const end = received.indexOf('\r\n\r\n');
			if (end === -1) {
				if (closed) finish({ status: 0, headers: {}, body: received.toString('latin1') });
				return;
			}
			const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
			const headers: Record<string, string> = {};
			for (const line of lines) {
				const colon = line.indexOf(':');
				headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
			}
			const status = Number(statusLine!.split(' ')[1]);
			if (status >= 100 && status < 200) {
				received = received.subarray(end + 4); // an interim answer (100 Continue)
				return parse(closed);
			}
			const body = received.subarray(end + 4);
			const length = options.head ? 0 : Number(headers['content-length'] ?? NaN);
			if (body.length >= length) {
				finish({ status, headers, body: body.subarray(0, length).toString('utf8') });
			} else if (closed) {
				finish({ status, headers, body: body.toString('utf8') });
			}
		};
		socket.on('data', (chunk: Buffer) => {
			received = Buffer.concat([received, chunk]);
			parse(false);
		});
		socket.on('close', () => parse(true));
		socket.on('end', () => socket.destroy());
		socket.on('error', () => undefined); // a reset ends in 'close' as well
		socket.on('connect', async () => {
			for (const piece of pieces) {
				if (done || socket.destroyed) return;
				if (Buffer.isBuffer(piece)) socket.write(piece);
				else await sleep(piece.pauseMs);
			}
		});
	});
}

// ---------------------------------------------------------------------------------------------
// What an answer must be.

/** Status -> the codes allowed with it; `ok` for a success, `closed` for no answer (status 0). */
type Allowed = Partial<Record<number, readonly string[]>>;

const STACK_TRACE = /\bat .+[.:](ts|js):\d+|node:internal/;

/** Checks the answer's form and that it is allowed; counts it in the answers table. */
function judge(answer: Answer, allowed: Allowed, what: string, head = false): string {
	const fail = (problem: string) =>
		new Error(
			`${what}: ${problem}\n  got ${answer.status} ${JSON.stringify(answer.headers)} ${answer.body.slice(0, 300)}`,
		);
	let code: string;
	if (answer.status === 0) {
		code = 'closed';
	} else if (answer.status >= 500) {
		throw fail('a 5xx');
	} else if (answer.status >= 400 && head) {
		// a HEAD answer has no body: its headers say what the body would have been
		if (!answer.headers['content-type']?.startsWith('application/json')) throw fail('not JSON');
		if (!answer.headers['x-correlation-id']) throw fail('no X-Correlation-ID');
		if (!allowed[answer.status])
			throw fail(`not one of the allowed answers ${JSON.stringify(allowed)}`);
		code = '(HEAD: no body)';
	} else if (answer.status >= 400) {
		if (!answer.headers['content-type']?.startsWith('application/json')) throw fail('not JSON');
		let body: Record<string, unknown>;
		try {
			body = JSON.parse(answer.body) as Record<string, unknown>;
		} catch {
			throw fail('a body that does not parse as JSON');
		}
		if (typeof body.code !== 'string' || typeof body.detail !== 'string')
			throw fail('no code or detail');
		if (typeof body.correlation_id !== 'string') throw fail('no correlation_id');
		if (answer.headers['x-correlation-id'] !== body.correlation_id) {
			throw fail('X-Correlation-ID differs from the body');
		}
		if (STACK_TRACE.test(answer.body)) throw fail('a stack trace');
		code = body.code;
	} else {
		code = 'ok';
	}
	if (!head && !allowed[answer.status]?.includes(code)) {
		throw fail(`not one of the allowed answers ${JSON.stringify(allowed)}`);
	}
	const label = `${answer.status || '-'} ${code}`;
	answers.set(label, (answers.get(label) ?? 0) + 1);
	return code;
}

function merge(...sets: Allowed[]): Allowed {
	const merged: Record<number, string[]> = {};
	for (const set of sets) {
		for (const [status, codes] of Object.entries(set)) {
			merged[Number(status)] = [...(merged[Number(status)] ?? []), ...(codes ?? [])];
		}
	}
	return merged;
}

/**
 * Runs one property over `count` generated cases, spread over the seeds, counting them under
 * `name`. A failure names its seed and path (fast-check's report).
 */
async function check<T>(
	name: string,
	count: number,
	arbitrary: fc.Arbitrary<T>,
	predicate: (value: T) => Promise<void>,
): Promise<void> {
	for (const seed of SEEDS) {
		await fc.assert(
			fc.asyncProperty(arbitrary, async (value) => {
				generated.set(name, (generated.get(name) ?? 0) + 1);
				await predicate(value);
			}),
			{ numRuns: runsPerSeed(count), seed, path: REPLAY_PATH },
		);
	}
}

/** Cases run concurrently (slow senders): generated with fast-check, sent all at once. */
async function checkAtOnce<T>(
	name: string,
	count: number,
	arbitrary: fc.Arbitrary<T>,
	predicate: (value: T) => Promise<void>,
): Promise<void> {
	const cases = SEEDS.flatMap((seed) =>
		fc
			.sample(arbitrary, { numRuns: runsPerSeed(count), seed })
			.map((value, index) => ({ seed, index, value })),
	);
	generated.set(name, (generated.get(name) ?? 0) + cases.length);
	await Promise.all(
		cases.map(({ seed, index, value }) =>
			predicate(value).catch((error: Error) => {
				throw new Error(
					`${name}: case ${index} of seed ${seed} failed: ${JSON.stringify(value).slice(0, 300)}\n${error.message}`,
				);
			}),
		),
	);
}

// ---------------------------------------------------------------------------------------------
// Generators.

const key = signingKeys([TEST_SECRET])[0]!.key;
let keyCounter = 0;
const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** Signature headers over exactly these bytes (v2 by default), with a fresh idempotency key. */
function signed(body: Buffer, scheme: 'v1' | 'v2' = 'v2'): [string, string][] {
	const id = `fuzz-${process.pid}-${keyCounter++}`;
	const timestamp = nowSeconds();
	if (scheme === 'v1') {
		return [
			['X-Timestamp', timestamp],
			['X-Signature', signV1(key, timestamp, body)],
			['X-Idempotency-Key', id],
		];
	}
	return [
		['webhook-id', id],
		['webhook-timestamp', timestamp],
		['webhook-signature', signV2(key, id, timestamp, body)],
	];
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const LEAD_FIELDS = new Set([
	'email',
	'name',
	'phone',
	'note',
	'zipcode',
	'address',
	'house',
	'idempotency_key',
]);

/** A JSON value with no forbidden key and no NUL ('grapheme' strings hold no lone surrogate). */
function clean(value: unknown): unknown {
	if (typeof value === 'string') return value.replace(/\0/g, '0');
	if (Array.isArray(value)) return value.map(clean);
	if (value === null || typeof value !== 'object') return value;
	return Object.fromEntries(
		Object.entries(value).map(([name, item]) => [
			FORBIDDEN.has(name) || name.includes('\0') ? `_${name.replace(/\0/g, '0')}` : name,
			clean(item),
		]),
	);
}

const jsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).map(clean);
/** Extra attributes of a lead: no known field at the top, anything below. */
const extras = fc
	.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), jsonValue, {
		maxKeys: 5,
	})
	.map((entries) => clean(entries) as Record<string, unknown>)
	.map((entries) =>
		Object.fromEntries(
			Object.entries(entries).map(([name, value]) => [
				LEAD_FIELDS.has(name) || name === 'x_defect' ? `x_${name}` : name,
				value,
			]),
		),
	);

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
/** Header text node:http accepts: visible ASCII, spaces and obs-text (0x80-0xff). */
const headerText = fc.string({
	unit: fc
		.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
		.map((code) => String.fromCharCode(code)),
	maxLength: 80,
});
const anyBody = fc.oneof(
	{ weight: 3, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)) },
	{
		weight: 3,
		arbitrary: fc.string({ unit: 'binary', maxLength: 1000 }).map((text) => Buffer.from(text)),
	},
	{
		weight: 3,
		arbitrary: fc.jsonValue({ maxDepth: 6 }).map((value) => Buffer.from(JSON.stringify(value))),
	},
	{
		weight: 1,
		arbitrary: fc
			.integer({ min: BODY_LIMIT - 1000, max: BODY_LIMIT + 150_000 })
			.map((size) => Buffer.alloc(size, 'a')),
	},
);

interface Defect {
	name: string;
	body: Buffer;
	allowed: Allowed;
}

const nestIn = (depth: number, inner: string) =>
	`${'{"x_n":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
/** `{"x_defect": <inner at depth>, ...extras}` */
const leadWith = (inner: string, rest: Record<string, unknown>, depth: number) => {
	const others = JSON.stringify(rest).slice(1);
	return `{"x_defect":${nestIn(depth, inner)}${others === '}' ? '}' : `,${others}`}`;
};
const depth = fc.integer({ min: 0, max: 6 });

/** One defect that a signature cannot excuse, and the only answers it may get. */
const defect: fc.Arbitrary<Defect> = fc.oneof(
	fc
		.record({
			levels: fc.integer({ min: 32, max: 3000 }),
			opener: fc.constantFrom('[', '{"a":'),
			closed: fc.boolean(),
		})
		.map(({ levels, opener, closed }) => {
			const closer = opener === '[' ? ']' : '}';
			const inner = `${opener.repeat(levels)}1${closed ? closer.repeat(levels) : ''}`;
			return {
				name: 'deep nesting',
				body: Buffer.from(`{"x_deep":${inner}}`),
				allowed: { 422: ['lead_too_deep'] },
			};
		}),
	fc
		.record({
			count: fc.integer({ min: 10_001, max: 40_000 }),
			item: fc.constantFrom('"a"', '[]', '{}', '""', '"@"'),
		})
		.map(({ count, item }) => ({
			name: 'too many values',
			body: Buffer.from(`{"x_wide":[${`${item},`.repeat(count - 1)}${item}]}`),
			allowed: { 422: ['lead_too_large'] },
		})),
	fc
		.record({
			key: fc.constantFrom(
				'__proto__',
				'constructor',
				'prototype',
				'\\u005f\\u005fproto\\u005f\\u005f',
				'constructo\\u0072',
			),
			value: jsonValue,
			inArray: fc.boolean(),
			depth,
			rest: extras,
		})
		.map(({ key, value, inArray, depth, rest }) => {
			const object = `{"${key}":${JSON.stringify(value)}}`;
			return {
				name: 'prototype key',
				body: Buffer.from(leadWith(inArray ? `[1,${object}]` : object, rest, depth)),
				allowed: { 422: ['lead_forbidden_key'] },
			};
		}),
	fc
		.record({
			text: fc.constantFrom(
				'\\u0000',
				'a\\u0000b',
				'\\ud800',
				'x\\udbff',
				'\\udc00',
				'\\udfffx',
				'\\udc00\\ud800',
				'\\ud83d\\ud83d',
			),
			asKey: fc.boolean(),
			depth,
			rest: extras,
		})
		.map(({ text, asKey, depth, rest }) => ({
			name: 'NUL or lone surrogate',
			body: Buffer.from(leadWith(asKey ? `{"${text}":1}` : `"${text}"`, rest, depth)),
			allowed: { 422: ['lead_invalid_text'] },
		})),
	fc
		.record({
			bytes: fc.constantFrom(
				[0xff],
				[0xfe],
				[0x80],
				[0xc0, 0xaf],
				[0xe0, 0x80, 0xaf],
				[0xed, 0xa0, 0x80],
				[0xf4, 0x90, 0x80, 0x80],
				[0xe2, 0x82],
				[0xf0, 0x9f, 0x98],
			),
			depth,
			rest: extras,
		})
		.map(({ bytes, depth, rest }) => {
			const [before, after] = leadWith('"\u0001"', rest, depth).split('\u0001') as [string, string];
			return {
				name: 'invalid UTF-8',
				body: Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]),
				allowed: { 400: ['invalid_utf8'] },
			};
		}),
	fc
		.record({ rest: extras, cut: fc.double({ min: 0, max: 1, noNaN: true }) })
		.map(({ rest, cut }) => {
			const text = JSON.stringify({ house: { is_owner: true }, ...rest });
			return {
				name: 'truncated JSON',
				body: Buffer.from(text.slice(0, Math.min(text.length - 1, Math.floor(cut * text.length)))),
				allowed: { 400: ['invalid_json'] },
			};
		}),
	fc
		.constantFrom(
			'',
			' ',
			'{"a":1,}',
			"{'a':1}",
			'{"a":NaN}',
			'{"a":1}//',
			'{"a":1} x',
			'{"a":"\\x"}',
			'{"a":01}',
			'{"a":"tab\tinside"}',
			'{"a":"nul\u0000inside"}',
			'{"a" 1}',
			']]]]]]]]]][[[[[[[[[[',
			'{"a":"\\ud800',
		)
		.map((text) => ({
			name: 'not JSON',
			body: Buffer.from(text),
			allowed: { 400: ['invalid_json'] },
		})),
	fc
		.record({
			field: fc.constantFrom(
				['email'],
				['name'],
				['note'],
				['idempotency_key'],
				['phone'],
				['zipcode'],
				['address'],
				['address', 'zip'],
				['address', 'street'],
				['house'],
				['house', 'is_owner'],
			),
			wrong: fc.constantFrom<unknown>(true, { a: 1 }, [1], 42, 'text'),
			rest: extras,
		})
		.filter(({ field, wrong }) => !acceptedBySchema(field, wrong))
		.map(({ field, wrong, rest }) => {
			const lead: Record<string, unknown> = { ...rest, house: { is_owner: true } };
			if (field.length === 1) lead[field[0]!] = wrong;
			else lead[field[0]!] = { [field[1]!]: wrong };
			return {
				name: 'wrong shape',
				body: Buffer.from(JSON.stringify(lead)),
				allowed: { 422: ['invalid_lead'] },
			};
		}),
	fc
		.oneof(jsonValue, fc.constant([]), fc.constant('lead'), fc.constant(null))
		.filter((value) => value === null || typeof value !== 'object' || Array.isArray(value))
		.map((value) => ({
			name: 'not an object',
			body: Buffer.from(JSON.stringify(value)),
			allowed: { 422: ['invalid_lead'] },
		})),
	fc.integer({ min: BODY_LIMIT, max: BODY_LIMIT + 100_000 }).map((size) => ({
		name: 'over the body limit',
		body: Buffer.from(`{"x_big":"${'a'.repeat(size)}"}`),
		allowed: { 413: ['payload_too_large'] },
	})),
);

/** The lead schema's types: which wrong values it would still take. */
function acceptedBySchema(field: readonly string[], value: unknown): boolean {
	const path = field.join('.');
	if (typeof value === 'string') return !['address', 'house'].includes(path);
	if (typeof value === 'number') return ['phone', 'zipcode', 'address.zip'].includes(path);
	if (typeof value === 'boolean') return path === 'house.is_owner';
	if (Array.isArray(value)) return false;
	return ['address', 'house'].includes(path);
}

const SOURCE = /^[A-Za-z0-9._:/@-]{1,100}$/;
/** Every answer the lead body's checks give. */
const ANY_LEAD_BODY: Allowed = {
	400: ['invalid_utf8', 'invalid_json'],
	422: [
		'lead_too_deep',
		'lead_too_large',
		'lead_forbidden_key',
		'lead_invalid_text',
		'invalid_lead',
	],
};

// ---------------------------------------------------------------------------------------------
// The cases.

describe('regressions found by this suite', () => {
	const token: [string, string] = ['Authorization', `Bearer ${TEST_SERVICE_TOKEN}`];
	const json: [string, string] = ['Content-Type', 'application/json'];
	const post = (path: string, body: string, headers: [string, string][] = [token, json]) =>
		request({ path, headers, body: Buffer.from(body) });
	const get = (path: string) => request({ method: 'GET', path, headers: [token] });
	test.each([
		{
			name: 'a corrupt gzip body on the operator API (was 500, a stack trace in the log)',
			raw: post('/internal/dlq/retry-due', 'not gzip', [token, json, ['Content-Encoding', 'gzip']]),
			status: 400,
			code: 'invalid_body',
		},
		{
			name: 'an unknown Content-Encoding on the operator API (was 500)',
			raw: post('/internal/dlq/retry-due', '{}', [token, json, ['Content-Encoding', 'bogus']]),
			status: 415,
			code: 'unsupported_content_encoding',
		},
		{
			name: 'a charset other than UTF-8 on the operator API (was 500)',
			raw: post('/internal/dlq/retry-due', '{}', [
				token,
				['Content-Type', 'application/json; charset=latin1'],
			]),
			status: 415,
			code: 'unsupported_charset',
		},
		{
			name: 'a path id that is not valid percent-encoding (was 500)',
			raw: get('/internal/runs/%E0%A4%A'),
			status: 400,
			code: 'invalid_path',
		},
		{
			name: 'a NUL in a key looked up (was 500: Postgres refuses it)',
			raw: get('/internal/runs/by-key/a%00b'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a NUL in a DLQ filter (was 500)',
			raw: get('/internal/dlq?reason=a%00b'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a limit written as hex (was read as 16)',
			raw: get('/internal/dlq?limit=0x10'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a rules version written as an exponent (was read as version 1)',
			raw: get('/internal/rules/versions/1e0'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'an empty offset (was read as 0)',
			raw: get('/internal/dlq?offset='),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a NUL in a replay filter (was 500)',
			raw: post('/internal/dlq/replay', '{"source":"a\\u0000","dry_run":true}'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a NUL in a resolution note (was 500)',
			raw: post('/internal/dlq/1/resolve', '{"note":"done\\u0000"}'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: "a lone surrogate in an erasure's actor (was 500 with the runs already anonymised)",
			raw: post('/internal/privacy/erase', '{"email":"olga@example.com","actor":"\\ud800"}'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'a lone surrogate as a key deep in a body (Postgres refuses it in jsonb)',
			raw: post('/internal/alerts', '{"payload":{"a":{"\\udc00":1}}}'),
			status: 400,
			code: 'invalid_request',
		},
		{
			name: 'bytes that are not UTF-8 in an operator body (were replaced with U+FFFD)',
			raw: request({
				path: '/internal/dlq/replay',
				headers: [token, json],
				body: Buffer.concat([Buffer.from('{"source":"'), Buffer.from([0xff]), Buffer.from('"}')]),
			}),
			status: 400,
			code: 'invalid_utf8',
		},
		{
			name: 'malformed HTTP (was a bodiless 400)',
			raw: Buffer.from('FOO /health HTTP/1.1\r\nHost: x\r\n\r\n'),
			status: 400,
			code: 'bad_request',
		},
		{
			name: 'HTTP/1.1 without Host (was a bodiless 400)',
			raw: Buffer.from('GET /health HTTP/1.1\r\n\r\n'),
			status: 400,
			code: 'host_missing',
		},
		{
			name: 'an Expect other than 100-continue (was a bodiless 417)',
			raw: request({ headers: [['Expect', 'teapot']], body: Buffer.from('{}') }),
			status: 417,
			code: 'expectation_failed',
		},
		{
			name: 'headers over 16 KB (was a bodiless 431)',
			raw: request({ headers: [['X-Pad', 'a'.repeat(17_000)]] }),
			status: 431,
			code: 'headers_too_large',
		},
	])('$name -> $status $code', async ({ name, raw, status, code }) => {
		const answer = await exchange([raw]);
		expect(answer.status).toBe(status);
		expect(judge(answer, { [status]: [code] }, name)).toBe(code);
	});

	test('an idle keep-alive connection is closed 6 s after its last answer, which advertised 5 s', async () => {
		const { header, closedAfterMs } = await new Promise<{ header: string; closedAfterMs: number }>(
			(resolve, reject) => {
				const socket = connectTcp({ port, host: '127.0.0.1' });
				let received = '';
				let answeredAt = 0;
				socket.on('data', (chunk: Buffer) => {
					received += chunk.toString('latin1');
					answeredAt ||= performance.now();
				});
				socket.on('error', reject);
				socket.on('close', () =>
					resolve({
						header: /keep-alive: (.*)\r\n/i.exec(received)?.[1] ?? '',
						closedAfterMs: performance.now() - answeredAt,
					}),
				);
				socket.on('connect', () => socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'));
			},
		);
		expect(header).toBe('timeout=5');
		expect(closedAfterMs).toBeGreaterThanOrEqual(6000 - 100);
		expect(closedAfterMs).toBeLessThan(6000 + CUT_OFF_SLACK_MS);
	}, 15_000);

	test('a client that stalls in its headers or its body is cut off by the server timeouts, not up to 30 s later', async () => {
		const partial = Buffer.from('{"a":');
		const [headers, body] = await Promise.all([
			exchange([Buffer.from('POST /webhook/lead HTTP/1.1\r\nHost: x\r\n')]),
			exchange([request({ headers: signed(partial), body: partial, contentLength: '100' })]),
		]);
		judge(headers, { 408: ['request_timeout'] }, 'stalled headers');
		expect(headers.ms).toBeLessThan(HEADERS_TIMEOUT_MS + CUT_OFF_SLACK_MS);
		judge(body, { 408: ['request_timeout'] }, 'stalled body');
		expect(body.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
		expect(body.ms).toBeLessThan(REQUEST_TIMEOUT_MS + CUT_OFF_SLACK_MS);
	});
});

describe('every refusal reaches its client, whatever it is still sending', () => {
	const MB = 1024 * 1024;
	const token = `Authorization: Bearer ${TEST_SERVICE_TOKEN}`;
	const sig = (body: string) =>
		signed(Buffer.from(body))
			.map(([name, value]) => `${name}: ${value}`)
			.join('\r\n');
	/** The early refusals: each is answered before the body is read. */
	const REFUSALS: {
		name: string;
		head: (bytes: number) => string;
		chunked?: boolean;
		status: number;
		code: string;
	}[] = [
		{
			name: 'intake: Content-Encoding zstd',
			head: (n) =>
				`POST /webhook/lead HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}\r\nContent-Encoding: zstd\r\n${sig('x')}`,
			status: 415,
			code: 'unsupported_content_encoding',
		},
		{
			name: 'intake: Content-Length over the limit',
			head: (n) => `POST /webhook/lead HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}\r\n${sig('x')}`,
			status: 413,
			code: 'payload_too_large',
		},
		{
			name: 'intake: no signature (a streamed body)',
			head: () => 'POST /webhook/lead HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked',
			chunked: true,
			status: 401,
			code: 'signature_missing',
		},
		{
			name: 'intake: a streamed body past the limit',
			head: () =>
				`POST /webhook/lead HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${sig('x')}`,
			chunked: true,
			status: 413,
			code: 'payload_too_large',
		},
		{
			name: 'HTTP/1.1 without Host',
			head: (n) => `POST /webhook/lead HTTP/1.1\r\nContent-Length: ${n}`,
			status: 400,
			code: 'host_missing',
		},
		{
			name: 'operator API: no service token',
			head: (n) =>
				`POST /internal/dlq/retry-due HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${n}`,
			status: 401,
			code: 'unauthorized',
		},
		{
			name: 'operator API: a wrong service token',
			head: (n) =>
				`POST /internal/dlq/replay HTTP/1.1\r\nHost: x\r\n${token}x\r\nContent-Type: application/json\r\nContent-Length: ${n}`,
			status: 401,
			code: 'unauthorized',
		},
		{
			// its declared size is refused first (docs/hostile-input.md, the operator API's checks)
			name: "operator API: the issue's case, a body with Content-Encoding zstd to retry-due",
			head: (n) =>
				`POST /internal/dlq/retry-due HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: application/json\r\nContent-Encoding: zstd\r\nContent-Length: ${n}`,
			status: 413,
			code: 'payload_too_large',
		},
		{
			name: 'operator API: a streamed body with Content-Encoding zstd',
			head: () =>
				`POST /internal/dlq/retry-due HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: application/json\r\nContent-Encoding: zstd\r\nTransfer-Encoding: chunked`,
			chunked: true,
			status: 415,
			code: 'unsupported_content_encoding',
		},
		{
			name: 'operator API: a body that is not JSON',
			head: (n) =>
				`POST /internal/dlq/replay HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: text/plain\r\nContent-Length: ${n}`,
			status: 415,
			code: 'unsupported_content_type',
		},
		{
			name: 'operator API: a streamed body in a charset that is not UTF',
			head: () =>
				`POST /internal/kpi/compute-daily HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: application/json; charset=latin1\r\nTransfer-Encoding: chunked`,
			chunked: true,
			status: 415,
			code: 'unsupported_charset',
		},
		{
			name: 'operator API: Content-Length over 16 KB',
			head: (n) =>
				`POST /internal/dlq/replay HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: application/json\r\nContent-Length: ${n}`,
			status: 413,
			code: 'payload_too_large',
		},
		{
			name: 'operator API: a streamed body past 16 KB',
			head: () =>
				`POST /internal/dlq/replay HTTP/1.1\r\nHost: x\r\n${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked`,
			chunked: true,
			status: 413,
			code: 'payload_too_large',
		},
		{
			name: 'no such route',
			head: (n) => `POST /nothing/here HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}`,
			status: 404,
			code: 'not_found',
		},
	];
	const cases = REFUSALS.flatMap((refusal) =>
		[2 * MB, 8 * MB].map((bytes) => ({ ...refusal, bytes })),
	);
	const expectAnswer = (answer: StreamedAnswer, status: number, code: string, what: string) => {
		const judged: Answer = {
			status: answer.status,
			headers: answer.headers,
			body: answer.body,
			ms: 0,
		};
		expect({ what, status: answer.status }).toEqual({ what, status });
		expect(judge(judged, { [status]: [code] }, what)).toBe(code);
		// one answer only: no second one (a 408) after it
		expect(answer.raw.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
	};

	test.each(cases)(
		'$name, $bytes bytes sent in full, then the answer read: $status $code and a clean close',
		async ({ name, head, chunked, bytes, status, code }) => {
			const answer = await streamRequest({ port, head: head(bytes), bodyBytes: bytes, chunked });
			expectAnswer(answer, status, code, name);
			expect({ name, sent: answer.sent, writeError: answer.writeError }).toEqual({
				name,
				sent: bytes,
				writeError: null,
			});
		},
		30_000,
	);

	test.each(REFUSALS.filter((refusal) => !refusal.chunked))(
		'$name, from a slow sender (2 MB in 64 KB pieces 20 ms apart): the answer at once, the body taken to its end',
		async ({ name, head, status, code }) => {
			const bytes = 2 * MB;
			const answer = await streamRequest({
				port,
				head: head(bytes),
				bodyBytes: bytes,
				pauseMs: 20,
				readWhileSending: true,
			});
			expectAnswer(answer, status, code, name);
			expect(answer.answeredMs!).toBeLessThan(answer.closedMs / 2);
			expect({ name, sent: answer.sent, writeError: answer.writeError }).toEqual({
				name,
				sent: bytes,
				writeError: null,
			});
		},
		30_000,
	);

	test.each([
		[
			'/internal/dlq/retry-due',
			{
				authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
				'content-type': 'application/json',
				'content-encoding': 'zstd',
			},
			415,
		],
		['/internal/dlq/replay', { 'content-type': 'application/json' }, 401],
		['/webhook/lead', { 'content-encoding': 'zstd' }, 415],
		['/webhook/lead', { 'content-length': String(8 * MB) }, 413],
		// no Content-Length: node sends the body in chunks
		['/webhook/lead', {}, 401],
	] as const)(
		"node's own HTTP client streaming 8 MB to %s %j gets its %i",
		async (path, headers, status) => {
			const answer = await streamWithNodeClient({
				port,
				path,
				headers: { ...headers },
				bodyBytes: 8 * MB,
			});
			expect(answer.status).toBe(status);
			expect(answer.requestError).toBeNull();
		},
	);

	test('a body past the 16 MB that are read after an answer: the answer arrives, then the connection is closed', async () => {
		const bytes = 64 * MB;
		const answer = await streamRequest({
			port,
			head: REFUSALS[0]!.head(bytes),
			bodyBytes: bytes,
			readWhileSending: true,
		});
		expectAnswer(answer, 415, 'unsupported_content_encoding', 'past the discard limit');
		expect(answer.sent).toBeLessThan(bytes);
	});

	test('an answered client that keeps trickling is closed at the request timeout, with no second answer', async () => {
		const answer = await streamRequest({
			port,
			head: REFUSALS[0]!.head(1_000_000),
			bodyBytes: 1_000_000,
			chunkBytes: 100,
			pauseMs: 50,
			readWhileSending: true,
		});
		expectAnswer(answer, 415, 'unsupported_content_encoding', 'trickling after its answer');
		expect(answer.answeredMs!).toBeLessThan(500);
		expect(answer.closedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
		expect(answer.closedMs).toBeLessThan(REQUEST_TIMEOUT_MS + CUT_OFF_SLACK_MS);
	});

	test('on a keep-alive connection, the rest of a refused body is dropped and the next request is served', async () => {
		const bytes = 2 * MB;
		const answers = await new Promise<string>((resolve, reject) => {
			const socket = connectTcp({ port, host: '127.0.0.1' });
			let received = '';
			socket.on('data', (chunk: Buffer) => {
				received += chunk.toString('latin1');
				if (/"status":"alive"/.test(received)) {
					socket.destroy();
					resolve(received);
				}
			});
			socket.on('error', reject);
			socket.on('connect', () => {
				socket.write(`POST /nothing/here HTTP/1.1\r\nHost: x\r\nContent-Length: ${bytes}\r\n\r\n`);
				socket.write(Buffer.alloc(bytes, 'x'));
				socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
			});
		});
		expect(answers.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 404 ', 'HTTP/1.1 200 ']);
	});
});

describe('generated bad input against a running processor', () => {
	test('unsigned bodies of any bytes and size -> 401 (or 413 when a Content-Length over the limit says so first)', async () => {
		await check(
			'unsigned bodies',
			500,
			fc.record({
				body: anyBody,
				contentType: fc.option(
					fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1'),
				),
				chunked: fc.boolean(),
			}),
			async ({ body, contentType, chunked }) => {
				const headers: [string, string][] = contentType ? [['Content-Type', contentType]] : [];
				const raw = chunked
					? request({
							headers: [...headers, ['Transfer-Encoding', 'chunked']],
							contentLength: null,
							body: Buffer.concat([
								...(body.length ? [Buffer.from(`${body.length.toString(16)}\r\n`), body] : []),
								Buffer.from(`${body.length ? '\r\n' : ''}0\r\n\r\n`),
							]),
						})
					: request({ headers, body });
				const answer = await exchange([raw]);
				// the declared size is checked before the headers, the headers before the body is read
				judge(
					answer,
					body.length > BODY_LIMIT && !chunked
						? { 413: ['payload_too_large'] }
						: { 401: ['signature_missing'] },
					'unsigned body',
				);
			},
		);
	}, 60_000);

	test('signature headers of any kind -> 400 or 401, never further', async () => {
		const timestamp = fc.oneof(
			headerText,
			fc.nat().map(String),
			fc.integer({ min: -400, max: 400 }).map((offset) => String(Number(nowSeconds()) + offset)),
		);
		const v2Signature = fc.oneof(
			headerText,
			fc
				.array(
					fc.oneof(
						fc.base64String({ maxLength: 60 }).map((text) => `v1,${text}`),
						fc.base64String({ maxLength: 60 }).map((text) => `v1a,${text}`),
						printable,
					),
					{ maxLength: 12 },
				)
				.map((entries) => entries.join(' ')),
		);
		const v1Signature = fc.oneof(
			headerText,
			fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => `sha256=${hex}`),
		);
		await check(
			'signature headers',
			500,
			fc.record(
				{
					'webhook-id': fc.oneof(headerText, fc.string({ minLength: 150, maxLength: 400 })),
					'webhook-timestamp': timestamp,
					'webhook-signature': v2Signature,
					'x-timestamp': timestamp,
					'x-signature': v1Signature,
					'x-idempotency-key': headerText,
					'x-source': headerText,
				},
				{ requiredKeys: [] },
			),
			async (headers) => {
				const answer = await exchange([
					request({
						headers: Object.entries(headers),
						body: Buffer.from(JSON.stringify({ house: { is_owner: true } })),
					}),
				]);
				judge(
					answer,
					{
						400: ['webhook_id_invalid', 'timestamp_invalid'],
						401: ['signature_missing', 'signature_invalid'],
					},
					'signature headers',
				);
			},
		);
	}, 60_000);

	test('huge headers and long strings without @ -> 401, or 431 past 16 KB; headers of refused requests cost no masking', async () => {
		await check(
			'huge headers',
			150,
			fc.oneof(
				fc
					.array(
						fc.record({
							name: fc.constantFrom(
								'X-Source',
								'webhook-id',
								'User-Agent',
								'X-Correlation-ID',
								'X-Idempotency-Key',
								'X-Fuzz-Pad',
							),
							size: fc.integer({ min: 1000, max: 20_000 }),
							char: fc.constantFrom('a', '.', 'a.b ', '\u00e9', 'x@'),
						}),
						{ minLength: 1, maxLength: 4 },
					)
					.map((headers) =>
						headers.map(
							({ name, size, char }) =>
								[
									name,
									char === 'x@'
										? `${'x'.repeat(size)}@`
										: char.repeat(Math.ceil(size / char.length)),
								] as const,
						),
					),
				fc
					.integer({ min: 100, max: 3000 })
					.map((count) =>
						Array.from({ length: count }, (_, index) => [`X-Fuzz-${index}`, 'v'] as const),
					),
			),
			async (headers) => {
				const raw = request({ headers, body: Buffer.from('{}') });
				// what node counts against its 16 KB: the bytes of the header names and values
				const headerBytes = headers.reduce(
					(sum, [name, value]) => sum + name.length + value.length,
					40,
				);
				const answer = await exchange([raw]);
				const within = { 401: ['signature_missing'] };
				const over = { 431: ['headers_too_large'] };
				judge(
					answer,
					Math.abs(headerBytes - 16 * 1024) < 1024
						? merge(within, over)
						: headerBytes > 16 * 1024
							? over
							: within,
					'huge headers',
				);
			},
		);
	}, 60_000);

	test('correctly signed leads carrying a defect -> the documented 4xx of the check behind the signature, nothing written', async () => {
		await check(
			'signed defects',
			1200,
			fc.record({
				defect,
				scheme: fc.constantFrom<'v1' | 'v2'>('v2', 'v2', 'v1'),
				// mostly fine, sometimes refused before the body is looked at
				source: fc.oneof(
					{ weight: 5, arbitrary: fc.constant(null) },
					{ weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:/@-]{1,100}$/) },
					{ weight: 1, arbitrary: headerText },
					{ weight: 1, arbitrary: fc.string({ minLength: 101, maxLength: 5000 }) },
				),
				conflictingKey: fc.integer({ min: 0, max: 9 }).map((draw) => draw === 0),
			}),
			async ({ defect, scheme, source, conflictingKey }) => {
				const headers = signed(defect.body, scheme);
				const trimmed = source?.trim();
				if (source !== null) headers.push(['X-Source', source]);
				const conflict = scheme === 'v2' && conflictingKey;
				if (conflict) headers.push(['X-Idempotency-Key', 'another-key']);
				const answer = await exchange([request({ headers, body: defect.body })]);
				const allowed =
					defect.body.length > BODY_LIMIT
						? defect.allowed
						: conflict
							? { 400: ['idempotency_key_conflict'] }
							: trimmed && !SOURCE.test(trimmed)
								? { 400: ['source_invalid'] }
								: defect.allowed;
				judge(answer, allowed, `signed ${defect.name} (${scheme})`);
			},
		);
		rss.push({ at: 'half-way', kb: await rssKb() });
	}, 90_000);

	test('signed leads of the right shape with 100-250 KB strings (no @, many @, one @ at the end) are masked in linear time and refused by the rules', async () => {
		await check(
			'signed long strings',
			12,
			fc.record({
				size: fc.integer({ min: 100_000, max: 240_000 }),
				text: fc.constantFrom('a', 'a@b ', 'a.b@c', '\u00e9', 'x'),
				field: fc.constantFrom('x_long', 'comment_text', 'contact'),
			}),
			async ({ size, text, field }) => {
				const long =
					text === 'x'
						? `${'x'.repeat(size)}@example.com`
						: text.repeat(Math.floor(size / Buffer.byteLength(text)));
				const body = Buffer.from(
					JSON.stringify({
						email: 'long@example.com',
						address: { zip: '10115' },
						house: { is_owner: true },
						[field]: long,
					}),
				);
				const answer = await exchange([request({ headers: signed(body), body })]);
				recordedLeads++;
				judge(answer, { 200: ['ok'] }, 'long strings');
				expect(JSON.parse(answer.body)).toMatchObject({
					status: 'rejected',
					reasons: ['ZIP_NOT_66XXX'],
				});
			},
		);
	}, 60_000);

	test('lying Content-Length: shorter -> an answer for what was declared or 400; malformed -> 400 or 413', async () => {
		await check(
			'Content-Length shorter than the body',
			150,
			fc
				.record({ body: anyBody, signed: fc.boolean(), cut: fc.double({ min: 0, max: 1 }) })
				.filter(({ body }) => body.length >= 2 && body.length <= BODY_LIMIT),
			async ({ body, signed: sign, cut }) => {
				const declared = Math.min(body.length - 1, Math.floor(cut * body.length));
				const answer = await exchange([
					request({
						headers: sign ? signed(body) : [],
						body,
						contentLength: String(declared),
					}),
				]);
				judge(
					answer,
					{ 400: ['bad_request'], 401: ['signature_missing', 'signature_invalid'] },
					'short Content-Length',
				);
			},
		);
		await check(
			'malformed Content-Length',
			60,
			fc.record({
				value: fc.constantFrom(
					'abc',
					'-1',
					'1.5',
					'0x10',
					'',
					'1e3',
					'+5',
					' 2 ',
					'2, 2',
					'2, 3',
					'99999999999999999999',
					'9999999999',
					'２',
				),
				withChunked: fc.boolean(),
			}),
			async ({ value, withChunked }) => {
				const answer = await exchange([
					request({
						headers: withChunked ? [['Transfer-Encoding', 'chunked']] : [],
						body: Buffer.from('{}'),
						contentLength: value,
					}),
				]);
				judge(
					answer,
					{
						400: ['bad_request'],
						401: ['signature_missing'],
						413: ['payload_too_large'],
					},
					`Content-Length: ${value}`,
				);
			},
		);
	}, 60_000);

	test('slow senders and longer Content-Length are cut off by the server timeouts with 408; a slow client within them is served', async () => {
		const cutOff = (answer: Answer, limitMs: number, what: string) => {
			judge(answer, { 408: ['request_timeout'] }, what);
			expect(answer.ms).toBeGreaterThanOrEqual(limitMs - 100);
			expect(answer.ms).toBeLessThan(limitMs + CUT_OFF_SLACK_MS);
		};
		const pause = fc.integer({ min: 50, max: 300 });
		await Promise.all([
			checkAtOnce(
				'slow headers',
				8,
				fc.record({ pauseMs: pause, text: printable }),
				async ({ pauseMs, text }) => {
					const bytes = Buffer.from(`POST /webhook/lead HTTP/1.1\r\nHost: x\r\nX-Slow: ${text}`);
					const pieces: Piece[] = [];
					for (let i = 0; i < 200; i++) pieces.push(bytes.subarray(i, i + 1), { pauseMs });
					cutOff(await exchange(pieces), HEADERS_TIMEOUT_MS, 'trickled headers');
				},
			),
			checkAtOnce(
				'slow bodies',
				8,
				fc.record({
					pauseMs: pause,
					// at least 100 bytes a pause apart: still sending well after the timeout's check
					body: anyBody.filter((body) => body.length >= 100 && body.length <= BODY_LIMIT),
				}),
				async ({ pauseMs, body }) => {
					const raw = request({ headers: signed(body), body });
					const start = raw.length - body.length;
					const pieces: Piece[] = [raw.subarray(0, start)];
					// 100 bytes a pause apart outlast the timeout; the rest is never reached
					for (let i = start; i < Math.min(raw.length, start + 100); i++) {
						pieces.push(raw.subarray(i, i + 1), { pauseMs });
					}
					cutOff(await exchange(pieces), REQUEST_TIMEOUT_MS, 'trickled body');
				},
			),
			checkAtOnce(
				'Content-Length longer than the body',
				8,
				fc
					.record({ body: anyBody, extra: fc.integer({ min: 1, max: 100_000 }) })
					.filter(({ body }) => body.length < BODY_LIMIT),
				async ({ body, extra }) => {
					const declared = Math.min(body.length + extra, BODY_LIMIT);
					// signed, so the headers pass and the body is awaited
					const raw = request({ headers: signed(body), body, contentLength: String(declared) });
					cutOff(await exchange([raw]), REQUEST_TIMEOUT_MS, 'long Content-Length');
				},
			),
			checkAtOnce(
				'slow but within the timeouts',
				4,
				fc.integer({ min: 50, max: 120 }),
				async (pauseMs) => {
					const body = Buffer.from('{"house":{"is_owner":true}}');
					const raw = request({ body });
					const start = raw.length - body.length;
					const pieces: Piece[] = [raw.subarray(0, start)];
					for (let i = 0; i < 4; i++) {
						pieces.push({ pauseMs }, raw.subarray(start + i * 7, start + (i + 1) * 7));
					}
					judge(await exchange(pieces), { 401: ['signature_missing'] }, 'slow but in time');
				},
			),
		]);
	}, 30_000);

	test('duplicate headers -> a documented 4xx, never a lead', async () => {
		const names = [
			'webhook-id',
			'webhook-timestamp',
			'webhook-signature',
			'X-Timestamp',
			'X-Signature',
			'X-Idempotency-Key',
			'X-Source',
			'X-Correlation-ID',
			'Content-Type',
			'Content-Length',
			'Transfer-Encoding',
			'Host',
			'Authorization',
			'Content-Encoding',
		];
		await check(
			'duplicate headers',
			300,
			fc.record({
				signed: fc.boolean(),
				scheme: fc.constantFrom<'v1' | 'v2'>('v1', 'v2'),
				duplicates: fc.array(
					fc.record({
						name: fc.constantFrom(...names),
						value: fc.oneof(fc.constant('same'), headerText, fc.constant('chunked')),
					}),
					{ minLength: 1, maxLength: 3 },
				),
			}),
			async ({ signed: sign, scheme, duplicates }) => {
				// a lead of the wrong shape: whatever the duplicates make of it, it is never recorded
				const body = Buffer.from(JSON.stringify({ email: 42, house: { is_owner: true } }));
				const headers: [string, string][] = [
					['Content-Type', 'application/json'],
					['Content-Length', String(body.length)],
					...(sign ? signed(body, scheme) : []),
				];
				for (const { name, value } of duplicates) {
					const existing = headers.find(([other]) => other.toLowerCase() === name.toLowerCase());
					headers.push([name, value === 'same' ? (existing?.[1] ?? 'same') : value]);
				}
				const answer = await exchange([request({ headers, body, contentLength: null })]);
				judge(
					answer,
					{
						400: [
							'bad_request',
							'webhook_id_invalid',
							'timestamp_invalid',
							'idempotency_key_conflict',
							'idempotency_key_missing',
							'idempotency_key_invalid',
							'source_invalid',
							'invalid_json',
							'request_aborted',
							'content_length_mismatch',
						],
						401: ['signature_missing', 'signature_invalid'],
						408: ['request_timeout'],
						413: ['payload_too_large'],
						415: ['unsupported_content_encoding'],
						422: ['invalid_lead'],
					},
					'duplicate headers',
				);
			},
		);
	}, 60_000);

	test('compressed bodies -> 415 at the intake (the signature covers the bytes sent); decompressed, limited and checked on the operator API', async () => {
		const compress = (encoding: string, body: Buffer): Buffer => {
			if (encoding === 'gzip' || encoding === 'x-gzip') return gzipSync(body);
			if (encoding === 'deflate') return deflateSync(body);
			if (encoding === 'br') return brotliCompressSync(body);
			return body;
		};
		const encoding = fc.constantFrom(
			'gzip',
			'x-gzip',
			'deflate',
			'br',
			'compress',
			'zstd',
			'identity',
			'IDENTITY',
			'gzip, identity',
			'bogus',
		);
		await check(
			'compressed leads',
			100,
			fc.record({ encoding, defect, corrupt: fc.boolean() }),
			async ({ encoding, defect, corrupt }) => {
				const compressed = compress(encoding, defect.body);
				const body = corrupt ? compressed.subarray(0, compressed.length >> 1) : compressed;
				const answer = await exchange([
					request({ headers: [...signed(body), ['Content-Encoding', encoding]], body }),
				]);
				const identity = encoding.toLowerCase() === 'identity';
				judge(
					answer,
					!identity
						? { 415: ['unsupported_content_encoding'] }
						: body.length > BODY_LIMIT
							? { 413: ['payload_too_large'] }
							: corrupt
								? merge(defect.allowed, ANY_LEAD_BODY)
								: defect.allowed,
					`Content-Encoding ${encoding}`,
				);
			},
		);
		await check(
			'compressed operator bodies',
			100,
			fc.record({
				encoding,
				corrupt: fc.boolean(),
				path: fc.constantFrom(
					'/internal/dlq/retry-due',
					'/internal/dlq/replay',
					'/internal/kpi/compute-daily',
				),
				bomb: fc.boolean(),
			}),
			async ({ encoding, corrupt, path, bomb }) => {
				// never a valid request: a 2xx would run the operation
				const json = bomb
					? Buffer.alloc(2_000_000, ' ')
					: Buffer.from(JSON.stringify({ limit: 'many', date: 'yesterday', status: 'x' }));
				const compressed = compress(encoding, json);
				const body = corrupt ? compressed.subarray(0, compressed.length >> 1) : compressed;
				const answer = await exchange([
					request({
						path,
						headers: [
							['Authorization', `Bearer ${TEST_SERVICE_TOKEN}`],
							['Content-Type', 'application/json'],
							['Content-Encoding', encoding],
						],
						body,
					}),
				]);
				judge(
					answer,
					{
						400: ['invalid_request', 'invalid_json', 'invalid_body'],
						413: ['payload_too_large'],
						415: ['unsupported_content_encoding'],
					},
					`operator Content-Encoding ${encoding}`,
				);
			},
		);
	}, 60_000);

	test('any method on any path -> 404, 401 or the answer the route gives; unknown methods -> 400', async () => {
		const publicGets = ['/health', '/livez', '/metrics', '/openapi.json'];
		await check(
			'methods',
			300,
			fc.record({
				method: fc.constantFrom(
					'GET',
					'HEAD',
					'POST',
					'PUT',
					'PATCH',
					'DELETE',
					'OPTIONS',
					'TRACE',
					'PROPFIND',
					'MKCOL',
					'PURGE',
					'SEARCH',
					'CONNECT',
					'FOO',
					'get',
					'G\u00e9T',
				),
				path: fc.oneof(
					fc.constantFrom(
						'/webhook/lead',
						'/webhook/lead/',
						'/WEBHOOK/LEAD',
						'/webhook/lead?x=1',
						...publicGets,
						'/internal/dlq',
						'/internal/runs',
						'/',
						'*',
					),
					fc.webPath().map((path) => path || '/'),
				),
				withBody: fc.boolean(),
			}),
			async ({ method, path, withBody }) => {
				const answer = await exchange(
					[
						request({
							method,
							path: method === 'CONNECT' ? '127.0.0.1:1' : path,
							body: withBody ? Buffer.from('{}') : undefined,
						}),
					],
					{ head: method === 'HEAD' },
				);
				const ok =
					(['GET', 'HEAD'].includes(method) && publicGets.includes(path)) ||
					(method === 'OPTIONS' && (publicGets.includes(path) || path === '/'));
				judge(
					answer,
					{
						...(ok ? { 200: ['ok'] } : {}),
						0: method === 'CONNECT' ? ['closed'] : [],
						400: ['bad_request', 'invalid_path', 'invalid_request'],
						401: ['signature_missing', 'unauthorized'],
						404: ['not_found'],
					},
					`${method} ${path}`,
					method === 'HEAD',
				);
				if (answer.status === 200 && method === 'OPTIONS') {
					expect(answer.headers.allow).toBeDefined();
				}
			},
		);
	}, 60_000);

	test("the operator API's parameters: without the service token 401; with it, query strings, path ids and JSON bodies -> 200 (reads only) or a documented 4xx", async () => {
		const token = fc.oneof(
			fc.constant<string | null>(null),
			fc.constant(`Bearer ${TEST_SERVICE_TOKEN}x`),
			fc.constant(`bearer ${TEST_SERVICE_TOKEN}`),
			fc.constant(`Basic ${TEST_SERVICE_TOKEN}`),
			fc.constant('Bearer '),
			headerText.map((text) => `Bearer ${text}`),
		);
		const segment = fc.oneof(
			fc.string({ unit: 'grapheme', maxLength: 60 }).map(encodeURIComponent),
			fc.stringMatching(/^(%[0-9A-Fa-f]?[0-9A-Za-z]?|[a-z0-9-]){1,30}$/),
			fc.uuid().map(String),
			fc.integer({ min: -1e12, max: 1e12 }).map(String),
			fc.constantFrom('0', '1e3', '9007199254740993', '-1', '1.5', '%00', '%ZZ', '..', ''),
		);
		const query = fc
			.array(
				fc.tuple(
					fc.constantFrom('limit', 'offset', 'status', 'reason', 'from', 'to', 'x', 'limit[]'),
					fc.oneof(
						segment,
						fc.constantFrom('-1', '0', '501', '1e2', 'open', 'dead', '2024-02-30', '2024-01-01'),
						fc.string({ maxLength: 3000 }).map(encodeURIComponent),
					),
				),
				{ maxLength: 5 },
			)
			.map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
		const jsonBody = fc.oneof(
			jsonValue.map((value) => JSON.stringify(value)),
			fc.string({ maxLength: 200 }),
			fc.constant('{"limit":'),
			fc.integer({ min: 17_000, max: 40_000 }).map((size) => `{"note":"${'n'.repeat(size)}"}`),
		);
		const read = fc.record({
			kind: fc.constant('read' as const),
			path: fc.oneof(
				query.map((q) => `/internal/dlq${q}`),
				query.map((q) => `/internal/runs${q}`),
				query.map((q) => `/internal/stats/ledger${q}`),
				query.map((q) => `/internal/kpi${q}`),
				query.map((q) => `/internal/stats/runs${q}`),
				segment.map((id) => `/internal/runs/${id}`),
				segment.map((id) => `/internal/runs/by-key/${id}`),
				segment.map((id) => `/internal/${id}`),
				query.map((q) => `/internal/rules${q}`),
				query.map((q) => `/internal/rules/versions${q}`),
				segment.map((id) => `/internal/rules/versions/${id}`),
			),
		});
		// with the token, a body that is never a valid request (a 2xx would do the work)
		const write = fc.record({
			kind: fc.constant('write' as const),
			path: fc.oneof(
				segment.map((id) => `/internal/dlq/${id}/retry`),
				segment.map((id) => `/internal/dlq/${id}/resolve`),
				fc.constant('/internal/dlq/retry-due'),
				fc.constant('/internal/dlq/replay'),
				fc.constant('/internal/kpi/compute-daily'),
				fc.constant('/internal/rules/dry-run'),
				segment.map((id) => `/internal/rules/versions/${id}/restore`),
			),
			body: jsonBody,
			contentType: fc.constantFrom(
				'application/json',
				'application/json; charset=utf-8',
				'application/json; charset=utf-16',
				'application/json; charset=latin1',
				'text/plain',
				'application/x-www-form-urlencoded',
			),
		});
		await check(
			'operator API',
			800,
			fc.record({ request: fc.oneof(read, write), token: fc.option(token, { freq: 2 }) }),
			async ({ request: call, token: wrongToken }) => {
				const authorized = wrongToken === null;
				const isWrite = call.kind === 'write';
				const body = isWrite ? Buffer.from(invalidFor(call.path, call.body)) : undefined;
				// a body that is not application/json is refused (415) before it is read, never run
				// as an empty body
				const contentType = isWrite ? call.contentType : null;
				const headers: [string, string][] = [];
				if (!authorized && wrongToken !== null) headers.push(['Authorization', wrongToken]);
				if (authorized) headers.push(['Authorization', `Bearer ${TEST_SERVICE_TOKEN}`]);
				if (contentType) headers.push(['Content-Type', contentType]);
				const answer = await exchange([
					request({ method: isWrite ? 'POST' : 'GET', path: call.path, headers, body }),
				]);
				judge(
					answer,
					!authorized
						? { 400: ['bad_request'], 401: ['unauthorized'], 431: ['headers_too_large'] }
						: {
								...(isWrite ? {} : { 200: ['ok'] }),
								400: [
									'bad_request',
									'invalid_path',
									'invalid_request',
									'invalid_json',
									'invalid_range',
								],
								404: [
									'not_found',
									'run_not_found',
									'dlq_item_not_found',
									'rules_version_not_found',
								],
								409: ['dlq_item_not_retryable'],
								413: ['payload_too_large'],
								415: ['unsupported_charset', 'unsupported_content_type'],
								431: ['headers_too_large'],
							},
					`${isWrite ? 'POST' : 'GET'} ${call.path.slice(0, 200)} (${authorized ? 'token' : 'no token'})`,
				);
			},
		);
	}, 90_000);

	test('unknown query parameters and body fields on every operator route -> 400 naming each one, and nothing done', async () => {
		// each route with a request it would carry out, and the names it knows
		const ROUTES = [
			{ method: 'POST', path: '/internal/dlq/retry-due', body: { limit: 1 }, query: {} },
			{ method: 'POST', path: '/internal/dlq/replay', body: { dry_run: false }, query: {} },
			{ method: 'POST', path: '/internal/dlq/1/retry', body: null, query: {} },
			{ method: 'POST', path: '/internal/dlq/1/resolve', body: { note: 'x' }, query: {} },
			{
				method: 'POST',
				path: '/internal/kpi/compute-daily',
				body: { date: '2026-01-01' },
				query: {},
			},
			{ method: 'GET', path: '/internal/dlq', body: null, query: { status: 'open', limit: '5' } },
			{ method: 'GET', path: '/internal/runs', body: null, query: { limit: '5' } },
			{ method: 'GET', path: '/internal/stats/runs', body: null, query: {} },
			{ method: 'GET', path: '/internal/stats/ledger', body: null, query: { from: '2026-01-01' } },
			{ method: 'GET', path: '/internal/kpi', body: null, query: { to: '2026-01-07' } },
			{ method: 'GET', path: '/internal/runs/by-key/k', body: null, query: {} },
			{
				method: 'POST',
				path: '/internal/alerts',
				body: { alert_id: 'bad-input-suite', severity: 'info', summary: 'x' },
				query: {},
			},
		] as const;
		const KNOWN = new Set([
			'limit',
			'offset',
			'status',
			'reason',
			'source',
			'from',
			'to',
			'dry_run',
			'note',
			'date',
			// POST /internal/alerts
			'alert_id',
			'severity',
			'summary',
			'run_id',
			'outcome',
			'created_at',
			'response',
			'payload',
		]);
		const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/).filter((key) => !KNOWN.has(key));
		await check(
			'unknown operator parameters',
			300,
			fc.record({
				route: fc.constantFrom(...ROUTES),
				inQuery: fc.uniqueArray(name, { maxLength: 3 }),
				inBody: fc.uniqueArray(name, { maxLength: 3 }),
				value: jsonValue,
			}),
			async ({ route, inQuery, inBody, value }) => {
				const canBody = route.method === 'POST';
				const bodyKeys = canBody ? inBody.filter((key) => !inQuery.includes(key)) : [];
				if (inQuery.length + bodyKeys.length === 0) return;
				const query = new URLSearchParams({
					...route.query,
					...Object.fromEntries(inQuery.map((key) => [key, 'v'])),
				});
				const body = canBody
					? Buffer.from(
							JSON.stringify({
								...(route.body ?? {}),
								...Object.fromEntries(bodyKeys.map((key) => [key, value])),
							}),
						)
					: undefined;
				const answer = await exchange([
					request({
						method: route.method,
						path: `${route.path}?${query.toString()}`,
						headers: [
							['Authorization', `Bearer ${TEST_SERVICE_TOKEN}`],
							['Content-Type', 'application/json'],
						],
						body,
					}),
				]);
				judge(
					answer,
					{ 400: ['invalid_request'] },
					`${route.method} ${route.path} with unknown ${[...inQuery, ...bodyKeys].join(', ')}`,
				);
				const named = (JSON.parse(answer.body) as { issues: { path: string }[] }).issues.map(
					(issue) => issue.path,
				);
				expect(named.sort()).toEqual([...inQuery, ...bodyKeys].sort());
			},
		);
	}, 60_000);

	test('thousands of unknown query names cost a bounded answer: at most 50 issues, intake and operator routes alike', async () => {
		const names = Array.from({ length: 2000 }, (_, index) => `q${index}`).join('&');
		for (const path of ['/webhook/lead', '/internal/dlq', '/internal/runs']) {
			const answer = await exchange([
				request({
					method: path === '/webhook/lead' ? 'POST' : 'GET',
					path: `${path}?${names}`,
					headers: [
						['Authorization', `Bearer ${TEST_SERVICE_TOKEN}`],
						['Content-Type', 'application/json'],
					],
					body: path === '/webhook/lead' ? Buffer.from('{}') : undefined,
				}),
			]);
			judge(answer, { 400: ['invalid_request'] }, `${path} with 2000 unknown query names`);
			const body = JSON.parse(answer.body) as { detail: string; issues: unknown[] };
			expect([path, body.issues.length]).toEqual([path, 50]);
			expect(body.detail).toMatch(/\d+ more/);
			expect(answer.body.length).toBeLessThan(10_000);
		}
	});

	test('a 12 KB path is answered 404 with the path cut to 200 characters, not echoed whole', async () => {
		const path = `/${'x'.repeat(12_000)}`;
		const answer = await exchange([request({ method: 'GET', path, headers: [] })]);
		judge(answer, { 404: ['not_found'] }, 'GET a 12 KB path');
		const { detail } = JSON.parse(answer.body) as { detail: string };
		expect(detail).toBe(`No route for GET ${path.slice(0, 200)}… (12001 characters)`);
	});

	test('malformed HTTP (control characters, no colon, obs-fold, bare LF, wrong versions, upgrades) -> 400 JSON or a plain refusal', async () => {
		await check(
			'malformed HTTP',
			200,
			fc.oneof(
				fc
					.tuple(
						fc.constantFrom(
							'X-A: a\x01b',
							'X-A: a\x7fb',
							'X-A a',
							' X-A: folded',
							'X-A : spaced',
							'X\u00e9: latin1 name',
							'X-A: a\rb',
							': no name',
							'Host: a\r\nHost: b',
							'Upgrade: websocket\r\nConnection: Upgrade',
							'Expect: 100-continue',
							'Expect: teapot',
							'Transfer-Encoding: gzip',
							'Transfer-Encoding: chunked, chunked',
						),
						fc.constantFrom('/webhook/lead', '/health', '/internal/dlq'),
					)
					.map(([line, path]) =>
						Buffer.from(
							`POST ${path} HTTP/1.1\r\nHost: x\r\n${line}\r\nContent-Length: 2\r\n\r\n{}`,
							'latin1',
						),
					),
				fc
					.constantFrom(
						'GET /health HTTP/1.1\nHost: x\n\n',
						'GET /health HTTP/2.0\r\nHost: x\r\n\r\n',
						'GET /health HTTP/0.9\r\n\r\n',
						'GET /health\r\n\r\n',
						'GET /health HTTP/1.1\r\n\r\n',
						'GET  /health  HTTP/1.1\r\nHost: x\r\n\r\n',
						'\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n',
						'GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n',
						'GET http://evil.example/health HTTP/1.1\r\nHost: x\r\n\r\n',
						`GET /${'a'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
						'POST /webhook/lead HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
						'POST /webhook/lead HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\n{}\r\n0\r\n\r\n',
						'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
						'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
					)
					.map((text) => Buffer.from(text, 'latin1')),
				fc
					.uint8Array({ minLength: 1, maxLength: 300 })
					.map((bytes) => Buffer.concat([Buffer.from(bytes), Buffer.from('\r\n\r\n')])),
			),
			async (raw) => {
				const answer = await exchange([raw]);
				judge(
					answer,
					{
						200: ['ok'],
						400: ['bad_request', 'host_missing'],
						401: ['signature_missing', 'unauthorized'],
						404: ['not_found'],
						// a request that is never complete (empty lines before it are skipped) is cut off
						408: ['request_timeout'],
						413: ['payload_too_large'],
						417: ['expectation_failed'],
						431: ['headers_too_large'],
					},
					`raw ${JSON.stringify(raw.toString('latin1').slice(0, 80))}`,
				);
			},
		);
	}, 60_000);

	test('afterwards: nothing written beyond what the cases allow, the process alive, memory flat, /health and /livez quick throughout', async () => {
		rss.push({ at: 'after the cases', kb: await rssKb() });
		const latencies = await stopHealthPoller(poller);
		const seconds = (Date.now() - suiteStarted) / 1000;
		const alive = processor.child.exitCode === null;
		const live = await exchange([request({ method: 'GET', path: '/livez' })]);
		// a graceful stop after all that: it writes what it counted in memory (refused signatures)
		await processor.kill('SIGTERM');

		const runsByStatus = await sql`SELECT status, count(*)::int AS n FROM runs GROUP BY status`;
		const events = await sql`
			SELECT event_type, count(*)::int AS n FROM audit_events GROUP BY event_type ORDER BY 1`;
		const healthChecks = events.find((row) => row.event_type === 'health_check')?.n ?? 0;
		const dlq = await sql`SELECT reason, run_id, status, occurrences FROM dlq`;
		const refusalsCounted = dlq.reduce((sum, row) => sum + row.occurrences, 0);
		const refusalsAnswered = [...answers.entries()]
			.filter(([label]) => /^(401|409) /.test(label) && SIGNATURE_REFUSALS.includes(label.slice(4)))
			.reduce((sum, [, count]) => sum + count, 0);
		const growthMb = (rss.at(-1)!.kb - rss[0]!.kb) / 1024;
		const summary = Object.fromEntries(
			Object.entries(latencies).map(([path, samples]) => [path, percentiles(samples)]),
		);
		report({ seconds, healthChecks, dlqRows: dlq.length, refusalsCounted, summary, growthMb });

		// the process: it stayed up and answered, stopped cleanly, logged no error and no stack trace
		expect(alive).toBe(true);
		expect(live.status).toBe(200);
		expect(processor.child.exitCode).toBe(0);
		const logged = processor.lines.map((line) => {
			try {
				return JSON.parse(line) as { level: number; msg: string };
			} catch {
				return { level: 60, msg: line };
			}
		});
		expect(logged.filter((line) => line.level >= 50)).toEqual([]);
		expect(processor.lines.filter((line) => STACK_TRACE.test(line))).toEqual([]);

		// the database: the long-string leads' rejected runs and nothing else (the rules as seeded)
		expect(runsByStatus).toEqual(recordedLeads ? [{ status: 'rejected', n: recordedLeads }] : []);
		expect(events.filter((row) => row.event_type !== 'health_check')).toEqual([
			{ event_type: 'lead_received', n: recordedLeads },
			{ event_type: 'lead_rejected', n: recordedLeads },
			{ event_type: 'rules_changed', n: 1 },
		]);
		// the audited health check runs at most once per 10 s, however often it is asked
		expect(healthChecks).toBeLessThanOrEqual(Math.ceil(seconds / 10) + 2);
		expect(await sql`SELECT 1 FROM delivery_attempts`).toHaveLength(0);
		expect(await sql`SELECT 1 FROM kpi_daily`).toHaveLength(0);
		// refused signatures: one row per reason and minute however many, each one counted
		for (const row of dlq) {
			expect(SIGNATURE_REFUSALS).toContain(row.reason);
			expect(row).toMatchObject({ run_id: null, status: 'dead' });
		}
		expect(dlq.length).toBeLessThanOrEqual(
			SIGNATURE_REFUSALS.length * (Math.ceil(seconds / 60) + 1),
		);
		expect(refusalsCounted).toBeGreaterThanOrEqual(refusalsAnswered);
		expect(await crmCalls()).toBe(0);
		// no alert file and no report for any of it (an index of the alerts may be kept there)
		expect((await readdir(alertsDir)).filter((name) => name !== 'index.md')).toEqual([]);

		// memory: flat after the warm-up (a generous bound: V8 sizes its heap as it likes)
		expect(growthMb).toBeLessThan(150);

		// /health and /livez kept answering quickly while the cases ran: no event-loop blocking
		for (const figures of Object.values(summary)) {
			expect(figures.count).toBeGreaterThan(50);
			expect(figures.failed).toBe(0);
			expect(figures.p99).toBeLessThan(500);
		}
	}, 30_000);
});

// ---------------------------------------------------------------------------------------------
// Helpers.

/** A body for an operator write that is never valid for its endpoint. */
function invalidFor(path: string, body: string): string {
	if (path.endsWith('/retry')) return body;
	let parsed: unknown;
	try {
		parsed = JSON.parse(body);
	} catch {
		if (body.trim() !== '') return body; // not JSON at all
	}
	const object =
		parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
			? (parsed as Record<string, unknown>)
			: {};
	if (path.endsWith('/resolve')) return JSON.stringify({ ...object, note: ' ' });
	if (path.endsWith('/retry-due')) return JSON.stringify({ ...object, limit: 0 });
	if (path.endsWith('/replay')) return JSON.stringify({ ...object, limit: -1 });
	if (path.endsWith('/dry-run')) return JSON.stringify({ ...object, limit: 0 });
	if (path.endsWith('/restore')) return JSON.stringify({ ...object, expected_version: 0 });
	return JSON.stringify({ ...object, date: '2024-13-45' });
}

async function rssKb(): Promise<number> {
	const status = await readFile(`/proc/${processor.child.pid}/status`, 'utf8');
	return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

async function crmCalls(): Promise<number> {
	const response = await fetch(`${crm.url}/health`);
	return ((await response.json()) as { calls: number }).calls;
}

interface Sample {
	ms: number;
	status: number;
}

/**
 * /health and /livez, asked one after the other every 25 ms from a worker thread: its own event
 * loop, so the test's own work does not count against the processor.
 */
function startHealthPoller(url: string): Worker {
	return new Worker(
		`
		const { parentPort, workerData } = require('node:worker_threads');
		const samples = { '/health': [], '/livez': [] };
		let stopping = false;
		parentPort.on('message', () => { stopping = true; });
		(async () => {
			while (!stopping) {
				for (const path of Object.keys(samples)) {
					const started = performance.now();
					let status = 0;
					try {
						const response = await fetch(workerData.url + path, { signal: AbortSignal.timeout(10000) });
						await response.arrayBuffer();
						status = response.status;
					} catch {}
					samples[path].push({ ms: performance.now() - started, status });
				}
				await new Promise((resolve) => setTimeout(resolve, 25));
			}
			parentPort.postMessage(samples);
		})();
		`,
		{ eval: true, workerData: { url } },
	);
}

function stopHealthPoller(worker: Worker): Promise<Record<string, Sample[]>> {
	return new Promise((resolve) => {
		worker.once('message', resolve);
		worker.postMessage('stop');
	});
}

function percentiles(samples: Sample[]) {
	const sorted = samples.map((sample) => sample.ms).sort((a, b) => a - b);
	const at = (share: number) =>
		Math.round(sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]! * 10) / 10;
	return {
		count: samples.length,
		failed: samples.filter((sample) => sample.status !== 200).length,
		p50: at(0.5),
		p99: at(0.99),
		max: at(1),
	};
}

function report(figures: {
	seconds: number;
	healthChecks: number;
	dlqRows: number;
	refusalsCounted: number;
	summary: Record<string, ReturnType<typeof percentiles>>;
	growthMb: number;
}): void {
	const total = [...generated.values()].reduce((sum, count) => sum + count, 0);
	const table = [...answers.entries()]
		.sort((a, b) => b[1] - a[1])
		.map(([label, count]) => `  ${label.padEnd(40)} ${String(count).padStart(6)}`);
	const classes = [...generated.entries()].map(
		([name, count]) => `  ${name.padEnd(40)} ${String(count).padStart(6)}`,
	);
	console.log(
		[
			`bad-input suite: ${total} generated cases in ${figures.seconds.toFixed(1)} s (seeds ${SEEDS.join(', ')}${RANDOM_SEED === null ? '' : ` (random: ${RANDOM_SEED})`}, scale ${SCALE})`,
			...classes,
			'answers (status code: count):',
			...table,
			`recorded: ${recordedLeads} rejected runs (the long-string leads), ${figures.healthChecks} health_check events, ${figures.dlqRows} signature-refusal rows counting ${figures.refusalsCounted} refusals`,
			`memory: RSS ${rss.map((reading) => `${reading.at} ${(reading.kb / 1024).toFixed(0)} MB`).join(', ')} (growth ${figures.growthMb.toFixed(1)} MB)`,
			...Object.entries(figures.summary).map(
				([path, f]) =>
					`${path} under load: ${f.count} calls, p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms, ${f.failed} failed`,
			),
		].join('\n'),
	);
}
