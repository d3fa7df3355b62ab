import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { signingSecret, startLocalStack } from '@lead-intake-hub/stack';
import { signingKeys, signV2 } from '../src/intake/signature.js';

/*
 * `npm run bench:junk`: what junk costs the processor, in CPU per request, beside what a signed
 * lead costs, in the same run. Junk comes from many client addresses (127.0.0.x, each within
 * REFUSED_PER_MINUTE: every refusal logged and counted) and from one (past the limit: answered
 * 429 and not logged on its own), the way a flood arrives from behind one proxy; the signed
 * leads come from that same flooded address and must all be accepted. The processor's CPU
 * (user + system, from /proc) is read before and after each kind. No assertion on time: the
 * figures are for reading (docs/hostile-input.md quotes them).
 */

const stack = await startLocalStack({
	throwaway: true,
	ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0 },
	processorEnv: { LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: '100000000', FAULT_INJECTION: 'off' },
});
const processor = stack.services.find((service) => service.name === 'processor')!;
const port = Number(new URL(stack.urls.processor).port);
const [key] = signingKeys([signingSecret(stack.settings)]);
const FLOODED = '127.0.0.2';
const KB = 1024;
const MB = 1024 * KB;

interface Kind {
	name: string;
	count: number;
	bytes: number;
	headers: (body: Buffer, id: string) => Record<string, string>;
	/** The answer every request of this kind must get. */
	status: number;
}

const now = () => String(Math.floor(Date.now() / 1000));
const signedFor = (body: Buffer, id: string) => {
	const timestamp = now();
	return {
		'webhook-id': id,
		'webhook-timestamp': timestamp,
		'webhook-signature': signV2(key!.key, id, timestamp, body),
	};
};
const forged = (body: Buffer, id: string) => ({
	...signedFor(body, id),
	'webhook-signature': `v1,${randomBytes(32).toString('base64')}`,
});
/** Each signed lead is a person of its own: none is a same-person duplicate (cheaper than a lead). */
const leadOf = (n: number) =>
	Buffer.from(
		JSON.stringify({
			email: `bench.lead.${n}@example.com`,
			address: { zip: '66123', street: 'Hauptstrasse 1' },
			house: { is_owner: true },
		}),
	);

const kinds = (refusal: number): Kind[] => [
	{ name: 'unsigned, 1 KB', count: 4000, bytes: KB, headers: () => ({}), status: refusal },
	{ name: 'unsigned, 256 KB', count: 1000, bytes: 256 * KB, headers: () => ({}), status: refusal },
	{ name: 'forged signature, 1 KB', count: 4000, bytes: KB, headers: forged, status: refusal },
	{
		name: 'forged signature, 256 KB',
		count: 1000,
		bytes: 256 * KB,
		headers: forged,
		status: refusal,
	},
	{
		name: 'compressed (zstd), 2 MB',
		count: 200,
		bytes: 2 * MB,
		headers: () => ({ 'content-encoding': 'zstd' }),
		status: 415,
	},
	{ name: 'over the limit, 8 MB', count: 50, bytes: 8 * MB, headers: forged, status: 413 },
];

function cpuMs(): number {
	const fields = readFileSync(`/proc/${processor.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
	// utime and stime, fields 14 and 15 of the whole line, in clock ticks (100 a second)
	return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

interface Figures {
	name: string;
	from: string;
	requests: number;
	wrong: number;
	cpuMs: number;
}

/** `count` requests, 8 at a time, each from the next of `addresses`; CPU of the processor around it. */
async function measure(
	name: string,
	from: string,
	addresses: string[],
	count: number,
	send: (address: string, index: number) => Promise<boolean>,
): Promise<Figures> {
	const before = cpuMs();
	let next = 0;
	let wrong = 0;
	await Promise.all(
		Array.from({ length: 8 }, async () => {
			for (let index = next++; index < count; index = next++) {
				if (!(await send(addresses[index % addresses.length]!, index))) wrong++;
			}
		}),
	);
	return { name, from, requests: count, wrong, cpuMs: cpuMs() - before };
}

const agents = new Map<string, Agent>();
function post(
	address: string,
	headers: Record<string, string>,
	body: Buffer,
): Promise<{ status: number; body: string }> {
	let agent = agents.get(address);
	if (!agent) agents.set(address, (agent = new Agent({ keepAlive: true, localAddress: address })));
	return new Promise((resolve, reject) => {
		const req = request(
			{
				host: '127.0.0.1',
				port,
				method: 'POST',
				path: '/webhook/lead',
				agent,
				headers: { 'content-type': 'application/json', ...headers },
			},
			(res) => {
				let text = '';
				res.on('data', (chunk: Buffer) => (text += chunk.toString()));
				res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
			},
		);
		req.on('error', reject);
		req.end(body);
	});
}

const rows: Figures[] = [];
try {
	const spread = Array.from({ length: 250 }, (_, i) => `127.0.1.${i + 1}`);
	let leadCount = 0;
	const lead = (address: string) => {
		const body = leadOf(leadCount);
		return post(address, signedFor(body, `junk-bench-${leadCount}`), body).then(
			(answer) => answer.status === 200 && JSON.parse(answer.body).status === 'accepted',
			() => false,
		);
	};
	// warm up (JIT, pools), then the reference: signed leads
	for (let i = 0; i < 500; i++, leadCount++) await lead(FLOODED);
	rows.push(
		await measure(
			'signed lead, 150 B',
			'one address',
			[FLOODED],
			2000,
			(a) => (leadCount++, lead(a)),
		),
	);
	// past REFUSED_PER_MINUTE on the flooded address before its junk is measured
	for (let i = 0; i < 200; i++) await post(FLOODED, {}, Buffer.from('{}'));
	for (const [from, addresses, refusal] of [
		['many addresses, within the limit', spread, 401],
		['one address, past the limit', [FLOODED], 429],
	] as const) {
		for (const kind of kinds(refusal)) {
			const body = Buffer.alloc(kind.bytes, 'x');
			rows.push(
				await measure(kind.name, from, addresses as string[], kind.count, (address, index) =>
					post(address, kind.headers(body, `junk-${index}`), body).then(
						(answer) => answer.status === kind.status,
						() => false,
					),
				),
			);
		}
	}
	// the flooded address's leads still go through
	rows.push(
		await measure(
			'signed lead, amid the flood',
			'one address',
			[FLOODED],
			500,
			(a) => (leadCount++, lead(a)),
		),
	);
	print(rows);
} finally {
	for (const agent of agents.values()) agent.destroy();
	await stack.stop();
}

function print(figures: Figures[]): void {
	const lead = figures[0]!;
	const perLead = lead.cpuMs / lead.requests;
	console.log('\njunk benchmark: processor CPU (user + system) per request, same run\n');
	console.log(
		`${'request'.padEnd(30)} ${'from'.padEnd(34)} ${'requests'.padStart(8)} ${'wrong'.padStart(6)} ${'CPU ms'.padStart(8)} ${'µs each'.padStart(9)} ${'× lead'.padStart(7)}`,
	);
	for (const row of figures) {
		const each = row.cpuMs / row.requests;
		console.log(
			`${row.name.padEnd(30)} ${row.from.padEnd(34)} ${String(row.requests).padStart(8)} ${String(row.wrong).padStart(6)} ${row.cpuMs.toFixed(0).padStart(8)} ${(each * 1000).toFixed(0).padStart(9)} ${(each / perLead).toFixed(2).padStart(7)}`,
		);
	}
	console.log(
		'\n"wrong": answers other than the one expected (a signed lead: 200 accepted). CPU is read from /proc in 10 ms ticks.',
	);
}
