import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { ConfigError } from './config.js';

/** Reads and validates a JSON configuration file (rules, CRM mapping); names the file on error. */
export async function readJsonConfig<T extends z.ZodType>(
	path: string,
	schema: T,
): Promise<z.output<T>> {
	let parsed: unknown;
	try {
		parsed = JSON.parse(await readFile(path, 'utf8'));
	} catch (error) {
		throw new ConfigError(`Cannot read ${path}: ${(error as Error).message}`);
	}
	const result = schema.safeParse(parsed);
	if (!result.success) {
		const problems = result.error.issues.map(
			(issue) => `  ${issue.path.join('.') || '(file)'}: ${issue.message}`,
		);
		throw new ConfigError(`Invalid ${path}:\n${problems.join('\n')}`);
	}
	return result.data;
}
