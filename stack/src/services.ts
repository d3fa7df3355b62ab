import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { lifelineMain } from './repo.js';

export interface ServiceSpec {
	name: string;
	command: string;
	args: string[];
	env: NodeJS.ProcessEnv;
	cwd?: string;
	/** Ready once a line of its output matches (e.g. "listening") ... */
	readyWhen?: (line: string) => boolean;
	/** ... or once this check passes, polled (for services whose log level may hide that line). */
	readyCheck?: () => Promise<boolean>;
	readyTimeoutMs?: number;
	/** Every line the service prints. */
	onLine: (line: string) => void;
}

export interface Service {
	name: string;
	/** The service's own process (it leads a process group of its own). */
	pid: number;
	/** Resolves with the exit code when the process ends, for whatever reason. */
	exited: Promise<number | null>;
	/** Stops it in its own order; whatever it started goes with it. */
	stop(): Promise<void>;
}

/** How long a service may take to stop before its process group is killed. */
const STOP_GRACE_MS = 10_000;

export class ServiceError extends Error {
	/** The port the service found taken, when that is why it stopped. */
	portInUse: number | null = null;
}

const ADDRESS_IN_USE = /EADDRINUSE[^\n]*:(\d{1,5})\s*$/;

/**
 * Runs `command` behind a lifeline (lifeline.ts): it and whatever it starts end when this
 * process ends, however that happens. Its stdout and stderr are pipes; the lifeline's IPC
 * channel carries the command's pid.
 */
export function spawnWithLifeline(
	command: string,
	args: string[],
	options: { cwd?: string; env: NodeJS.ProcessEnv; detached?: boolean },
): ChildProcess {
	// NODE_OPTIONS is the command's (e.g. a profiler flag for n8n's Node), not the lifeline's
	const { NODE_OPTIONS, ...env } = options.env;
	return spawn(process.execPath, [lifelineMain, command, ...args], {
		cwd: options.cwd,
		env: {
			...env,
			LIH_STOP_GRACE_MS: String(STOP_GRACE_MS),
			...(NODE_OPTIONS ? { LIH_SERVICE_NODE_OPTIONS: NODE_OPTIONS } : {}),
		},
		stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
		detached: options.detached ?? false,
	});
}

/**
 * Starts a child process through a lifeline (lifeline.ts: it dies with this process, even on
 * SIGKILL, and takes everything it started with it) and waits until it says it is ready. A
 * service that exits or stays silent first is an error that quotes its last output lines, so
 * the person starting the stack sees why (a port in use, a bad setting).
 */
export function startService(spec: ServiceSpec): Promise<Service> {
	const child = spawnWithLifeline(spec.command, spec.args, {
		cwd: spec.cwd,
		env: spec.env,
		// its own process group: Ctrl-C reaches the launcher, which stops services in order
		detached: true,
	});
	const recent: string[] = [];
	const exited = new Promise<number | null>((resolve) =>
		child.once('exit', (code) => resolve(code)),
	);
	const started = new Promise<number>((resolve) =>
		child.once('message', (message: { pid?: number }) => resolve(message.pid ?? -1)),
	);
	const service: Service = {
		name: spec.name,
		pid: -1,
		exited,
		async stop() {
			if (child.exitCode !== null || child.signalCode !== null) return;
			child.kill('SIGTERM');
			// the lifeline kills the service's group after STOP_GRACE_MS; this is its own safety net
			const forced = setTimeout(() => {
				if (service.pid > 0) killGroup(service.pid);
				child.kill('SIGKILL');
			}, STOP_GRACE_MS + 5_000);
			await exited;
			clearTimeout(forced);
		},
	};
	void started.then((pid) => (service.pid = pid));

	return new Promise((resolve, reject) => {
		let ready = false;
		const timeoutMs = spec.readyTimeoutMs ?? 30_000;
		const timer = setTimeout(() => {
			void service.stop();
			reject(
				new ServiceError(`${spec.name} was not ready after ${timeoutMs / 1000} s${tail(recent)}`),
			);
		}, timeoutMs);
		for (const stream of [child.stdout!, child.stderr!]) {
			createInterface({ input: stream }).on('line', (line) => {
				spec.onLine(line);
				recent.push(line);
				if (recent.length > 15) recent.shift();
				if (!ready && spec.readyWhen?.(line)) markReady();
			});
		}
		const markReady = () => {
			if (ready) return;
			ready = true;
			clearTimeout(timer);
			void started.then(() => resolve(service));
		};
		if (spec.readyCheck)
			void pollUntil(spec.readyCheck, () => ready || child.exitCode !== null).then(markReady);
		child.once('error', (error) => {
			clearTimeout(timer);
			reject(new ServiceError(`${spec.name} could not be started: ${error.message}`));
		});
		void exited.then((code) => {
			if (ready) return;
			clearTimeout(timer);
			const taken = recent.map((line) => ADDRESS_IN_USE.exec(line)?.[1]).find(Boolean);
			const error = new ServiceError(
				taken
					? `${spec.name} could not start: port ${taken} is already in use`
					: `${spec.name} exited with code ${code} before it was ready${tail(recent)}`,
			);
			if (taken) error.portInUse = Number(taken);
			reject(error);
		});
	});
}

async function pollUntil(check: () => Promise<boolean>, giveUp: () => boolean): Promise<void> {
	while (!giveUp()) {
		if (await check().catch(() => false)) return;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	return new Promise(() => undefined);
}

/** A readiness check: the URL answers 2xx. */
export function answersOk(url: string): () => Promise<boolean> {
	return () => fetch(url).then((response) => response.ok);
}

function killGroup(pgid: number): void {
	try {
		process.kill(-pgid, 'SIGKILL');
	} catch {
		// already gone
	}
}

function tail(lines: string[]): string {
	return lines.length ? `; its last output:\n  ${lines.join('\n  ')}` : '';
}
