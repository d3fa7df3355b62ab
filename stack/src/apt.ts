import { spawn } from 'node:child_process';

/**
 * `apt-get install -y <name>` (Debian's packages; tests install their tools this way when they
 * are missing), with one `apt-get update` and a second try when the package lists are stale or
 * absent (a fresh machine). Resolves with apt-get's exit code, null when apt-get cannot run;
 * only root may install.
 */
export async function aptInstall(name: string): Promise<number | null> {
	if (process.getuid?.() !== 0) return null;
	const install = () => aptGet(['install', '-y', '--no-install-recommends', name]);
	const first = await install();
	if (first === 0 || first === null) return first;
	await aptGet(['update']);
	return install();
}

function aptGet(args: string[]): Promise<number | null> {
	return new Promise((resolve) => {
		const child = spawn('apt-get', args, {
			env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
			stdio: 'ignore',
		});
		child.once('error', () => resolve(null));
		child.once('exit', resolve);
	});
}
