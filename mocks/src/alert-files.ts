import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `20261123T061502Z`: the UTC timestamp that starts every alert file name (SPEC 3.6). */
export function alertTimestamp(date: Date): string {
	return date
		.toISOString()
		.replace(/[-:]/g, '')
		.replace(/\.\d{3}Z$/, 'Z');
}

/** `alerts/<UTC yyyymmddTHHMMSSZ>_<run_id or id>.json`; the id is reduced to file-safe characters. */
export function alertFileName(date: Date, id: string): string {
	const safeId = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100) || 'alert';
	return `${alertTimestamp(date)}_${safeId}.json`;
}

/**
 * Writes the alert without ever replacing one: a second alert for the same id in the same
 * second gets `-2`, `-3`, ... before `.json`.
 */
export async function writeAlertFile(
	dir: string,
	date: Date,
	id: string,
	content: unknown,
): Promise<string> {
	await mkdir(dir, { recursive: true });
	const base = alertFileName(date, id).replace(/\.json$/, '');
	for (let copy = 1; ; copy++) {
		const name = copy === 1 ? `${base}.json` : `${base}-${copy}.json`;
		try {
			await writeFile(join(dir, name), `${JSON.stringify(content, null, 2)}\n`, { flag: 'wx' });
			return name;
		} catch (error) {
			if ((error as { code?: string }).code !== 'EEXIST') throw error;
		}
	}
}
