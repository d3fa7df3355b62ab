/**
 * What `npm start` prints of a service's output line, or null for nothing. Without `verbose`, n8n
 * is quiet (it is chatty, and offline here it reports failed look-ups of its own web services)
 * and the processor's JSON log lines read as sentences: a request as `POST /path -> 202 (16 ms)`,
 * anything else as its message and details, `WARNING` or `ERROR` in front when it is one.
 */
export function terminalLine(service: string, line: string, verbose: boolean): string | null {
	if (verbose) return `[${service}] ${line}`;
	if (service.startsWith('n8n')) return null;
	const entry = service === 'processor' ? logEntryOf(line) : null;
	if (!entry) return `[${service}] ${line}`;
	const { level, time: _time, service: _service, pid: _pid, hostname: _host, msg, ...rest } = entry;
	if (level < 40 && msg === 'request completed') {
		const req = rest.req as { method?: string; path?: string } | undefined;
		const res = rest.res as { status?: number } | undefined;
		return `[processor] ${req?.method} ${req?.path} -> ${res?.status} (${String(rest.responseTime)} ms)`;
	}
	const label = level >= 50 ? 'ERROR ' : level >= 40 ? 'WARNING ' : '';
	const details = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
	return `[processor] ${label}${typeof msg === 'string' ? msg : ''}${details}`;
}

/** A pino line: a JSON object with a numeric level; anything else is printed as it is. */
function logEntryOf(line: string): (Record<string, unknown> & { level: number }) | null {
	try {
		const entry = JSON.parse(line) as unknown;
		return entry !== null &&
			typeof entry === 'object' &&
			typeof (entry as { level?: unknown }).level === 'number'
			? (entry as Record<string, unknown> & { level: number })
			: null;
	} catch {
		return null;
	}
}
