import { existsSync } from 'node:fs';
import { aptInstall } from './apt.js';

/** Debian's Chromium: the browser tests drive it with playwright-core (which downloads nothing). */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags for a headless Chromium on a machine without network access: no sandbox (tests run as
 * root), and none of the background connections a closed network refuses at every start.
 */
export const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];

export type ChromiumAvailability = { path: string } | { path: null; reason: string };

/**
 * The browser for the tests: Debian's `chromium` package, installed with apt-get when it is
 * missing and this process may install packages (root). Otherwise says why there is none, so a
 * test can skip with that sentence instead of failing on a machine that cannot have it.
 */
export async function ensureChromium(
	log: (line: string) => void = () => undefined,
): Promise<ChromiumAvailability> {
	if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
	if (process.getuid?.() !== 0) {
		return { path: null, reason: `${CHROMIUM_PATH} is missing; install Debian's chromium package` };
	}
	log('Installing Debian chromium for the browser tests (apt-get, once) ...');
	const code = await aptInstall('chromium');
	if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
	return {
		path: null,
		reason: `apt-get install chromium failed (exit code ${code}); install Debian's chromium package`,
	};
}
