import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
	port: number;
	/** Stops listening and drops every connection, as a stopped Postgres would. */
	cut(): Promise<void>;
	/**
	 * Cuts (as `cut`) the moment clients have sent `count` more statements: the last one never
	 * gets its answer. Resolves once cut.
	 */
	cutAtStatement(count: number): Promise<void>;
	/** Listens again on the same port. */
	restore(): Promise<void>;
	close(): Promise<void>;
}

/** Postgres frontend messages that start a statement: Query, Parse, Bind, Execute. */
const STATEMENT_MESSAGES = new Set(['Q', 'P', 'B', 'E'].map((type) => type.charCodeAt(0)));

/** Forwards a local port to the test Postgres, so a test can take the database away and back. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
	const sockets = new Set<Socket>();
	let onStatement: (() => void) | null = null;
	const forward = (client: Socket) => {
		const upstream = connect(targetPort, targetHost);
		for (const socket of [client, upstream]) {
			sockets.add(socket);
			socket.on('close', () => sockets.delete(socket));
			socket.on('error', () => undefined);
		}
		client.pipe(upstream).pipe(client);
		// after pipe's own listener: the statement has been passed on when the cut comes
		client.on('data', (chunk: Buffer) => {
			if (onStatement && STATEMENT_MESSAGES.has(chunk[0]!)) onStatement();
		});
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
		cutAtStatement(count) {
			let sent = 0;
			return new Promise<void>((resolve) => {
				onStatement = () => {
					if (++sent < count) return;
					onStatement = null;
					// synchronously, before Postgres's answer can come back through the proxy
					const stopped = server ? stop(server) : Promise.resolve();
					server = null;
					void stopped.then(resolve);
				};
			});
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
