import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/*
 * The alerts directory: `<UTC yyyymmddTHHMMSSZ>_<run id or id>.json` alert files (a second
 * file for the same id in the same second gets `-2`, `-3`, ...), the daily reports and index.md.
 */

export interface AlertFile {
	name: string;
	/** The second in the name. */
	at: Date;
	/** The run id (or, for an alert without a lead, the id it was named after). */
	id: string;
	isRunId: boolean;
}

const ALERT_NAME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z_([A-Za-z0-9_-]{1,120})\.json$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const RUN_ID_WITH_COPY = new RegExp(`^(${UUID})(?:-\\d{1,4})?$`);
const OTHER_WITH_COPY = /^([A-Za-z0-9_-]+?)(?:-\d{1,4})?$/;
const RUN_ID = new RegExp(`^${UUID}$`);

/** Whether an alert's id is a run id (else an n8n execution's or an event's). */
export function isRunId(id: string): boolean {
	return RUN_ID.test(id);
}

/** Reads an alert file name; null for anything else (reports, index.md, temporary files). */
export function parseAlertFileName(name: string): AlertFile | null {
	const match = ALERT_NAME.exec(name);
	if (!match) return null;
	const [, year, month, day, hour, minute, second, rest] = match;
	const at = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
	if (Number.isNaN(at.getTime())) return null;
	const runId = RUN_ID_WITH_COPY.exec(rest!);
	if (runId) return { name, at, id: runId[1]!, isRunId: true };
	return { name, at, id: OTHER_WITH_COPY.exec(rest!)![1]!, isRunId: false };
}

/** `20261123T061502Z` */
export function alertTimestamp(date: Date): string {
	return date
		.toISOString()
		.replace(/[-:]/g, '')
		.replace(/\.\d{3}Z$/, 'Z');
}

/** The alert files in the directory, oldest first; an absent directory has none. */
export async function listAlertFiles(dir: string): Promise<AlertFile[]> {
	let names: string[];
	try {
		names = await readdir(dir);
	} catch (error) {
		if ((error as { code?: string }).code === 'ENOENT') return [];
		throw error;
	}
	return names
		.map(parseAlertFileName)
		.filter((file): file is AlertFile => file !== null)
		.sort((a, b) => a.at.getTime() - b.at.getTime() || a.name.localeCompare(b.name));
}

/** An alert file's JSON object; null when it is missing, too large or not a JSON object. */
export async function readAlertJson(
	dir: string,
	name: string,
	maxBytes = 64 * 1024,
): Promise<Record<string, unknown> | null> {
	let handle;
	try {
		handle = await open(join(dir, name), 'r');
		const { size } = await handle.stat();
		if (size > maxBytes) return null;
		const parsed: unknown = JSON.parse(await handle.readFile('utf8'));
		return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
			? (parsed as Record<string, unknown>)
			: null;
	} catch {
		return null;
	} finally {
		await handle?.close();
	}
}

/**
 * Writes a new alert file for `id`, never over another: `<at>_<id>.json`, else `-2`, `-3`, ...
 * (exclusive creation, so a concurrent writer cannot be overwritten either). Returns its name.
 */
export async function createAlertFile(
	dir: string,
	at: Date,
	id: string,
	content: string,
): Promise<string> {
	const base = `${alertTimestamp(at)}_${id}`;
	for (let copy = 1; copy <= 100; copy++) {
		const name = copy === 1 ? `${base}.json` : `${base}-${copy}.json`;
		try {
			await writeFile(join(dir, name), content, { flag: 'wx' });
			return name;
		} catch (error) {
			if ((error as { code?: string }).code !== 'EEXIST') throw error;
		}
	}
	throw new Error(`too many alert files named ${base}`);
}

/** A reader never sees half a file: write aside (a name no reader lists), then rename over. */
export async function writeAtomically(path: string, content: string): Promise<void> {
	const temporary = join(
		dirname(path),
		`.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
	);
	try {
		await writeFile(temporary, content, { flag: 'wx' });
		await rename(temporary, path);
	} catch (error) {
		await rm(temporary, { force: true });
		throw error;
	}
}
