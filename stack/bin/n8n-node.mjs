// `n8n-node <command>` (n8n's node CLI: build, lint) as `npm run build` and `npm run lint` run it.
// On a terminal it runs unchanged. Off a terminal (CI, a log file, `npm start`'s output piped) its
// spinners would print a frame every 80 ms, so it runs in its CI mode (each step printed once)
// and its output loses the cursor and colour escapes: plain lines a log can be read by.
// Plain JavaScript: it runs before anything in this repository is built.
import { spawn } from 'node:child_process';
import process from 'node:process';
import { stripVTControlCharacters } from 'node:util';

const onTerminal = Boolean(process.stdout.isTTY);
const child = spawn('n8n-node', process.argv.slice(2), {
	stdio: onTerminal ? 'inherit' : ['inherit', 'pipe', 'pipe'],
	env: onTerminal ? process.env : { ...process.env, CI: 'true' },
});

/** Passes complete lines on, without escape sequences and without lines left blank by them. */
function plain(from, to) {
	let pending = '';
	const write = (text) => {
		for (const line of text.split('\n')) {
			const clean = stripVTControlCharacters(line).trimEnd();
			if (clean !== '' || line === '') to.write(`${clean}\n`);
		}
	};
	from.setEncoding('utf8');
	from.on('data', (chunk) => {
		pending += chunk;
		const end = pending.lastIndexOf('\n');
		if (end < 0) return;
		write(pending.slice(0, end));
		pending = pending.slice(end + 1);
	});
	from.on('end', () => {
		if (pending) write(pending);
	});
}

if (!onTerminal) {
	plain(child.stdout, process.stdout);
	plain(child.stderr, process.stderr);
}
child.on('error', (error) => {
	process.stderr.write(`n8n-node: ${error.message}\n`);
	process.exitCode = 1;
});
child.on('close', (code, signal) => {
	if (signal) process.kill(process.pid, signal);
	else process.exitCode = code ?? 1;
});
