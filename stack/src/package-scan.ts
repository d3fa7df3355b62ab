import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './n8n/install.js';
import { repoRoot } from './repo.js';

/**
 * `npm run scan:package`: n8n's community-package scan (@n8n/scan-community-package, pinned in
 * package.json) on this repository's node sources and on the tarball `npm pack` makes, the two
 * scans n8n runs before it verifies a package. Its command line only scans a package published
 * with provenance, fetched from the registry; this runs the same analysis on the local source
 * and the local tarball, so the release is checked before it is published.
 */
interface ScanResult {
	passed: boolean;
	message?: string;
	details?: string;
}

interface Scanner {
	analyzePackage(directory: string, filePatterns: string[]): Promise<ScanResult>;
	SOURCE_FILE_PATTERNS: string[];
}

/** What the scanner lints in the published tarball (compiled code and package.json). */
const TARBALL_FILE_PATTERNS = ['**/*.js', 'package.json'];

async function main(): Promise<void> {
	const started = Date.now();
	const scanner = (await import(
		'@n8n/scan-community-package/scanner/scanner.mjs' as string
	)) as Scanner;
	const work = await mkdtemp(join(tmpdir(), 'lih-package-scan-'));
	try {
		const tarball = (
			await run('npm', ['pack', '--silent', '--pack-destination', work], repoRoot, log)
		)
			.trim()
			.split('\n')
			.pop()!;
		const unpacked = join(work, 'package');
		await run('tar', ['-xzf', join(work, tarball), '-C', work], work, log);
		const files = await readdir(unpacked, { recursive: true });
		// a tarball without the built nodes would pass the scan with nothing to scan
		const manifest = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8')) as {
			n8n: { nodes: string[]; credentials: string[] };
		};
		const missing = [...manifest.n8n.nodes, ...manifest.n8n.credentials].filter(
			(file) => !files.includes(file),
		);
		if (missing.length > 0) {
			throw new Error(
				`${tarball} lacks ${missing.join(', ')}: run \`npm run build\` before packing`,
			);
		}

		const source = await scanner.analyzePackage(repoRoot, scanner.SOURCE_FILE_PATTERNS);
		const packed = await scanner.analyzePackage(unpacked, TARBALL_FILE_PATTERNS);
		let failed = false;
		for (const [what, result] of [
			['node sources', source],
			[`packed ${tarball} (${files.length} files)`, packed],
		] as const) {
			if (result.passed) {
				log(`n8n community-package scan, ${what}: passed`);
			} else {
				failed = true;
				log(`n8n community-package scan, ${what}: FAILED: ${result.message ?? ''}`);
				if (result.details) log(result.details);
			}
		}
		log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
		if (failed) process.exitCode = 1;
	} finally {
		await rm(work, { recursive: true, force: true });
	}
}

function log(line: string): void {
	console.log(line);
}

main().catch((error: unknown) => {
	console.error(error instanceof Error ? error.message : String(error));
	process.exit(1);
});
