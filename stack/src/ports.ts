import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/*
 * A port handed to a service is bound by it only seconds later (n8n takes several to start). A
 * port the OS picked for `listen(0)` lies in the ephemeral range, which every outgoing connection
 * on the machine draws its local port from: meanwhile one of them could take it, and the service
 * fails with EADDRINUSE (seen: an n8n queue worker's health port). So ports are drawn below that
 * range, each handed out once per process, and only when nothing listens on them.
 */
const LOWEST = 20_000;
const handedOut = new Set<number>();

/** The first port of the range the OS draws outgoing connections' local ports from. */
function ephemeralStart(): number {
	try {
		const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
			.trim()
			.split(/\s+/)
			.map(Number);
		return low && low > LOWEST + 1000 ? low : 32_768;
	} catch {
		return 32_768;
	}
}

const highest = ephemeralStart() - 1;

/** Whether nothing listens on the port, on any address. */
export function listensFree(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const server = createServer();
		server.unref();
		server.once('error', () => resolve(false));
		// every address, so a port busy on any interface is refused
		server.listen(port, () => server.close(() => resolve(true)));
	});
}

/** A TCP port no one listens on, outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
	for (let attempt = 0; attempt < 1000; attempt++) {
		const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
		if (handedOut.has(port)) continue;
		handedOut.add(port);
		if (await listensFree(port)) return port;
	}
	throw new Error(`no free port between ${LOWEST} and ${highest}`);
}
