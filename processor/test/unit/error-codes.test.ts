import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERR, ERROR_CODES } from '../../src/error-codes.js';

/** Error codes are declared once (src/error-codes.ts); the docs' table and the code are held to it. */
const processorRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const contract = readFileSync(join(processorRoot, '..', 'docs', 'contract.md'), 'utf8');

function errorCodesTable(): Map<string, number> {
	const start = contract.indexOf('\n### Error codes\n');
	if (start < 0) throw new Error('docs/contract.md has no "### Error codes" section');
	const rest = contract.slice(start + 1);
	const end = rest.search(/^#{1,3} (?!Error codes)/m);
	const rows = (end < 0 ? rest : rest.slice(0, end))
		.split('\n')
		.filter((line) => line.startsWith('| `'));
	return new Map(
		rows.map((row) => {
			const [, code, status] = row.split('|').map((cell) => cell.trim());
			return [code!.replaceAll('`', ''), Number(status)];
		}),
	);
}

function sourceFiles(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) return sourceFiles(path);
		return path.endsWith('.ts') ? [path] : [];
	});
}

test('docs/contract.md lists every declared error code with its status, and no other', () => {
	const documented = errorCodesTable();
	const declared = new Map(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]));
	expect([...documented.keys()].sort()).toEqual([...declared.keys()].sort());
	expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(declared));
});

test('every declared code has a message and its constant is itself', () => {
	for (const [code, { status, description }] of Object.entries(ERROR_CODES)) {
		expect(ERR[code as keyof typeof ERR]).toBe(code);
		expect(status).toBeGreaterThanOrEqual(400);
		expect(status).toBeLessThan(600);
		expect(description.length).toBeGreaterThan(0);
	}
});

test('no source file writes an error code as a literal: each uses ERR.<code>', () => {
	const literal = new RegExp(
		`'(${Object.keys(ERROR_CODES).join('|')})'|"(${Object.keys(ERROR_CODES).join('|')})"`,
	);
	const offenders: string[] = [];
	for (const file of sourceFiles(join(processorRoot, 'src'))) {
		if (file.endsWith('error-codes.ts')) continue;
		readFileSync(file, 'utf8')
			.split('\n')
			.forEach((line, index) => {
				if (literal.test(line))
					offenders.push(`${relative(processorRoot, file)}:${index + 1}: ${line.trim()}`);
			});
	}
	expect(offenders).toEqual([]);
});

test('an HttpError is always made with a declared code, never a string written in place', () => {
	const offenders: string[] = [];
	for (const file of sourceFiles(join(processorRoot, 'src'))) {
		const text = readFileSync(file, 'utf8');
		for (const match of text.matchAll(/new HttpError\(\s*[^,]+,\s*(['"`])/g)) {
			offenders.push(`${relative(processorRoot, file)}: ${match[0]}`);
		}
	}
	expect(offenders).toEqual([]);
});
