import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

export interface RunningServer {
	url: string;
	port: number;
	close(): Promise<void>;
}

export function listen(app: Express, port: number, host = '127.0.0.1'): Promise<RunningServer> {
	return new Promise((resolve, reject) => {
		const server: Server = app.listen(port, host, (error?: Error) => {
			if (error) return reject(error);
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
