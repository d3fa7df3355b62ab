import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
	port: number;
	/** Stops listening and drops every connection, as a stopped Postgres would. */
	cut(): Promise<void>;
	/** Listens again on the same port. */
	restore(): Promise<void>;
	close(): Promise<void>;
}

/** Forwards a local port to the test Postgres, so a test can take the database away and back. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
	const sockets = new Set<Socket>();
	const forward = (client: Socket) => {
		const upstream = connect(targetPort, targetHost);
		for (const socket of [client, upstream]) {
			sockets.add(socket);
			socket.on('close', () => sockets.delete(socket));
			socket.on('error', () => undefined);
		}
		client.pipe(upstream).pipe(client);
		client.on('close', () => upstream.destroy());
		upstream.on('close', () => client.destroy());
	};
	const listen = (port: number) =>
		new Promise<Server>((resolve) => {
			const server = createServer(forward);
			server.listen(port, '127.0.0.1', () => resolve(server));
		});
	const stop = (server: Server) =>
		new Promise<void>((resolve) => {
			server.close(() => resolve());
			for (const socket of sockets) socket.destroy();
		});

	let server: Server | null = await listen(0);
	const { port } = server.address() as { port: number };
	return {
		port,
		async cut() {
			if (server) await stop(server);
			server = null;
		},
		async restore() {
			server ??= await listen(port);
		},
		async close() {
			if (server) await stop(server);
			server = null;
		},
	};
}
