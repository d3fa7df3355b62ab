import { spawnSync } from 'node:child_process';
import { aptInstall } from './apt.js';

export type ComposeAvailability = { command: string } | { command: null; reason: string };

const COMMAND = 'docker-compose';

function installed(): boolean {
	return spawnSync(COMMAND, ['version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Debian's `docker-compose` (it validates and renders a compose file without a Docker engine),
 * installed with apt-get when missing and this process may install packages (root). Otherwise
 * says why there is none, so a test can skip with that sentence.
 */
export async function ensureDockerCompose(
	log: (line: string) => void = () => undefined,
): Promise<ComposeAvailability> {
	if (installed()) return { command: COMMAND };
	if (process.getuid?.() !== 0) {
		return {
			command: null,
			reason: `${COMMAND} is missing; install Debian's docker-compose package`,
		};
	}
	log('Installing Debian docker-compose for the compose tests (apt-get, once) ...');
	const code = await aptInstall(COMMAND);
	if (installed()) return { command: COMMAND };
	return {
		command: null,
		reason: `apt-get install docker-compose failed (exit code ${code}); install Debian's docker-compose package`,
	};
}
