import { terminalLine } from '../src/terminal-lines.js';

const pino = (fields: Record<string, unknown>) =>
	JSON.stringify({ time: 1796487009633, service: 'processor', pid: 7, hostname: 'h', ...fields });

test('a processor request reads as method, path, status and time', () => {
	const line = pino({
		level: 30,
		msg: 'request completed',
		req: { method: 'POST', path: '/webhook/lead' },
		res: { status: 202 },
		responseTime: 16,
	});
	expect(terminalLine('processor', line, false)).toBe(
		'[processor] POST /webhook/lead -> 202 (16 ms)',
	);
});

test('other processor lines read as their message and details, warnings and errors labelled', () => {
	expect(
		terminalLine('processor', pino({ level: 30, msg: 'DLQ retry pass', claimed: 1 }), false),
	).toBe('[processor] DLQ retry pass {"claimed":1}');
	expect(terminalLine('processor', pino({ level: 40, msg: 'CRM slow' }), false)).toBe(
		'[processor] WARNING CRM slow',
	);
	expect(terminalLine('processor', pino({ level: 50, msg: 'boom', code: 'x' }), false)).toBe(
		'[processor] ERROR boom {"code":"x"}',
	);
});

test('lines that are not pino objects, and every line with --verbose, are shown as they are', () => {
	expect(terminalLine('processor', 'listening on 8000', false)).toBe(
		'[processor] listening on 8000',
	);
	expect(terminalLine('processor', '42', false)).toBe('[processor] 42');
	const raw = pino({ level: 30, msg: 'DLQ retry pass' });
	expect(terminalLine('processor', raw, true)).toBe(`[processor] ${raw}`);
});

test("n8n's own log is shown only with --verbose", () => {
	expect(terminalLine('n8n', 'Editor is now accessible', false)).toBeNull();
	expect(terminalLine('n8n-worker-1', 'x', true)).toBe('[n8n-worker-1] x');
	expect(terminalLine('mock-crm', 'listening', false)).toBe('[mock-crm] listening');
});
