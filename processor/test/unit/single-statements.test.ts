import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * ADR 0005: after start-up the processor runs no multi-statement transaction. postgres.js 3.4.x
 * ends the process when the connection of a transaction (or of a reserved connection) dies while
 * it still has something to send (upstream #1154, #1208); processor/test/connection-loss.test.ts
 * shows it for the erasure, retention and alert paths that once used one.
 */
const sourceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
/** The migrations run at start-up, under an advisory lock, before the process serves anything. */
const ALLOWED = new Set(['db/migrate.ts']);

function sources(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) return sources(path);
		return entry.name.endsWith('.ts') ? [path] : [];
	});
}

test('no source file but the migrations opens a transaction or reserves a connection', () => {
	const offenders = sources(sourceRoot)
		.map((path) => relative(sourceRoot, path))
		.filter((name) => !ALLOWED.has(name))
		.filter((name) => /\.(begin|reserve)\s*\(/.test(readFileSync(join(sourceRoot, name), 'utf8')));
	expect(offenders).toEqual([]);
	// the check itself finds what it looks for
	expect(readFileSync(join(sourceRoot, 'db/migrate.ts'), 'utf8')).toMatch(/\.begin\s*\(/);
});
