import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnWithLifeline } from '../services.js';

/** The pinned n8n (its nodes are compiled against n8n-workflow 2.40.x) and the Node.js it needs. */
export const N8N_VERSION = '2.40.7';
/** Also the Node.js of the processor's image (Dockerfile; the compose test holds them equal). */
export const NODE_VERSION = '24.21.0';

/**
 * The oldest and the newest n8n the package is tested on (README.md, Supported n8n versions; also
 * `engines.n8n` in package.json): the smoke test (stack/test/n8n-versions.test.ts) runs on both.
 * Older n8n lacks the n8n-workflow API the Lead Source Trigger resolves its webhook with
 * (webhookDescriptionFields, n8n 2.35); the newest release, 2.41.3, depends on a package version
 * the registry does not have.
 */
export const SUPPORTED_N8N_VERSIONS = { oldest: '2.35.0', newest: '2.41.1' } as const;

export interface N8nInstall {
	/** The Node.js 24 binary n8n runs on. */
	node: string;
	/** n8n's CLI script (run with `node`). */
	n8nBin: string;
	/** n8n's version (N8N_VERSION unless a test asked for another). */
	version: string;
}

/** Outside the checkout, shared by every clone: LIH_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache. */
function cacheDir(): string {
	return (
		process.env.LIH_CACHE_DIR ??
		join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lead-intake-hub')
	);
}

/**
 * Installs Node.js 24 and n8n into the cache on first use (about 4 minutes and 2.8 GB, once);
 * afterwards this is instant. A folder counts as installed only once its `.complete` marker
 * exists, so an interrupted install starts over instead of leaving a broken n8n.
 */
export async function ensureN8n(
	log: (line: string) => void,
	version: string = N8N_VERSION,
): Promise<N8nInstall> {
	if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`n8n version ${version} is not x.y.z`);
	const n8nDir = join(cacheDir(), `n8n-${version}`);
	const install: N8nInstall = {
		node: await ensureNode(log),
		n8nBin: join(n8nDir, 'node_modules', 'n8n', 'bin', 'n8n'),
		version,
	};
	// n8n must skip install scripts (a native build in its tree downloads from the internet)
	await installOnce(
		n8nDir,
		`n8n@${version}`,
		['--ignore-scripts'],
		`n8n ${version} (about 4 minutes and 2.8 GB, only once)`,
		log,
	);
	return install;
}

/**
 * The Node.js 24 binary the stack runs n8n and its own services on (the container image's), so
 * they run on a supported Node.js whatever Node.js started the launcher. Installed into the cache
 * on first use, in seconds (its package links the binary in an install script).
 */
export async function ensureNode(log: (line: string) => void): Promise<string> {
	const nodeDir = join(cacheDir(), `node-${NODE_VERSION}`);
	await installOnce(nodeDir, `node@${NODE_VERSION}`, [], `Node.js ${NODE_VERSION}`, log);
	return join(nodeDir, 'node_modules', 'node', 'bin', 'node');
}

async function installOnce(
	dir: string,
	spec: string,
	flags: string[],
	what: string,
	log: (line: string) => void,
): Promise<void> {
	const marker = join(dir, '.complete');
	if (existsSync(marker)) return;
	log(`Installing ${what} into ${dir} ...`);
	await rm(dir, { recursive: true, force: true });
	await mkdir(dir, { recursive: true });
	await writeFile(join(dir, 'package.json'), '{ "private": true }\n');
	const started = Date.now();
	const progress = setInterval(
		() => log(`  still installing ${spec} (${Math.round((Date.now() - started) / 1000)} s)`),
		20_000,
	);
	try {
		await run(
			'npm',
			['install', '--no-audit', '--no-fund', '--loglevel=error', ...flags, spec],
			dir,
			log,
		);
	} finally {
		clearInterval(progress);
	}
	await writeFile(marker, `${new Date().toISOString()}\n`);
	log(`Installed ${spec} in ${Math.round((Date.now() - started) / 1000)} s.`);
}

/**
 * Runs a command (npm, an n8n CLI command), passing its output lines on; rejects with its last
 * lines when it fails. Behind a lifeline, so it does not outlive the launcher either.
 */
export function run(
	command: string,
	args: string[],
	cwd: string,
	log: (line: string) => void,
	env = process.env,
): Promise<string> {
	return new Promise((resolve, reject) => {
		const child = spawnWithLifeline(command, args, { cwd, env });
		let output = '';
		const collect = (chunk: Buffer) => {
			output += chunk.toString();
		};
		child.stdout!.on('data', collect);
		child.stderr!.on('data', collect);
		child.once('error', reject);
		child.once('exit', (code) => {
			if (code === 0) return resolve(output);
			const tail = output.trim().split('\n').slice(-15).join('\n  ');
			for (const line of tail.split('\n')) log(line);
			reject(new Error(`${command} ${args.join(' ')} failed (exit code ${code}):\n  ${tail}`));
		});
	});
}
