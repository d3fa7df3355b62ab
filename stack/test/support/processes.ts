import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** Linux process facts from /proc: what a test needs to prove nothing of a stack is left. */

function readOr(path: string, fallback = ''): string {
	try {
		return readFileSync(path, 'utf8');
	} catch {
		return fallback;
	}
}

function pids(): number[] {
	return readdirSync('/proc')
		.filter((name) => /^\d+$/.test(name))
		.map(Number);
}

/** A process that exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
	const stat = readOr(`/proc/${pid}/stat`);
	if (!stat) return false;
	return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** `root` and every process below it, right now. */
export function processTree(root: number): number[] {
	const children = new Map<number, number[]>();
	for (const pid of pids()) {
		const stat = readOr(`/proc/${pid}/stat`);
		if (!stat) continue;
		const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
		children.set(ppid, [...(children.get(ppid) ?? []), pid]);
	}
	const tree: number[] = [];
	const queue = [root];
	while (queue.length) {
		const pid = queue.shift()!;
		tree.push(pid);
		queue.push(...(children.get(pid) ?? []));
	}
	return tree;
}

export function commandLine(pid: number): string {
	return readOr(`/proc/${pid}/cmdline`).replace(/\0/g, ' ').trim();
}

/** Live processes whose environment contains `entry` (e.g. `LIH_DATA_DIR=/tmp/x`): a marker every process of one stack inherits. */
export function processesWithEnvironment(entry: string): number[] {
	return pids().filter(
		(pid) => alive(pid) && readOr(`/proc/${pid}/environ`).split('\0').includes(entry),
	);
}

/** The TCP ports the given processes listen on. */
export function listeningPorts(processes: number[]): number[] {
	const inodes = new Set<string>();
	for (const pid of processes) {
		let fds: string[] = [];
		try {
			fds = readdirSync(`/proc/${pid}/fd`);
		} catch {
			continue;
		}
		for (const fd of fds) {
			try {
				const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
				if (match) inodes.add(match[1]!);
			} catch {
				// closed meanwhile
			}
		}
	}
	const ports = new Set<number>();
	for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
		for (const line of readOr(table).split('\n').slice(1)) {
			const fields = line.trim().split(/\s+/);
			// local_address, state 0A = LISTEN, inode
			if (fields[3] === '0A' && inodes.has(fields[9]!)) {
				ports.add(parseInt(fields[1]!.split(':')[1]!, 16));
			}
		}
	}
	return [...ports].sort((a, b) => a - b);
}

/** Waits until none of `processes` is alive; returns those still alive after `timeoutMs`. */
export async function waitUntilGone(processes: number[], timeoutMs: number): Promise<number[]> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const left = processes.filter(alive);
		if (left.length === 0 || Date.now() > deadline) return left;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** True when the next `npm start` could listen on `port`. */
export function portFree(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const server = createServer();
		server.once('error', () => resolve(false));
		server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
	});
}

export interface Launched {
	child: ChildProcess;
	/** Everything it printed so far (stdout and stderr). */
	output(): string;
	/** Resolves once its output contains `text`; rejects when it exits first. */
	waitFor(text: string | RegExp): Promise<void>;
	exited: Promise<number | null>;
}

/** Runs a command, collecting its output. */
export function launch(command: string, args: string[], env: NodeJS.ProcessEnv): Launched {
	const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	const listeners = new Set<() => void>();
	const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
	for (const stream of [child.stdout!, child.stderr!]) {
		stream.on('data', (chunk: Buffer) => {
			output += chunk.toString();
			for (const listener of listeners) listener();
		});
	}
	return {
		child,
		exited,
		output: () => output,
		waitFor(text) {
			const found = () => (typeof text === 'string' ? output.includes(text) : text.test(output));
			return new Promise((resolve, reject) => {
				if (found()) return resolve();
				const check = () => {
					if (!found()) return;
					listeners.delete(check);
					resolve();
				};
				listeners.add(check);
				void exited.then((code) => {
					if (found()) return;
					listeners.delete(check);
					reject(new Error(`exited with code ${code} before printing ${text}:\n${output}`));
				});
			});
		},
	};
}
