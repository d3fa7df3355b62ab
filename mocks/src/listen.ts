import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
	url: string;
	port: number;
	close(): Promise<void>;
}

export function listen(
	handler: RequestListener,
	port: number,
	host = '127.0.0.1',
): Promise<RunningServer> {
	return new Promise((resolve, reject) => {
		const server = createServer(handler);
		server.once('error', reject);
		server.listen(port, host, () => {
			const actualPort = (server.address() as AddressInfo).port;
			resolve({
				url: `http://${host}:${actualPort}`,
				port: actualPort,
				close: () =>
					new Promise<void>((done) => {
						server.close(() => done());
						server.closeAllConnections();
					}),
			});
		});
	});
}
