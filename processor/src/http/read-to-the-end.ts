import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How much of a request's body is read and thrown away after it was answered before its body was
 * read (a refusal: service token, encoding, content type, size, rate limit, unknown route...);
 * past this the connection is closed (docs/hostile-input.md, "An answer before the body").
 */
const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * Past the limit the connection is no longer read, and closed this long after: a client that
 * writes faster than it reads is held by TCP (its writes stop) and reads its answer and the FIN,
 * where an immediate close would send a reset that can throw the unread answer away.
 */
const LINGER_MS = 2_000;

/** Connections whose answer is out while the rest of the request is being read and dropped. */
const discarding = new WeakSet<Socket>();

/**
 * Whether this connection's request was answered and its body is being read only to be
 * dropped: a request timeout then closes it without a second answer.
 */
export function isDiscarding(socket: unknown): boolean {
	return discarding.has(socket as Socket);
}

/**
 * Makes sure an answer sent before the request's body was read reaches the client. node:http
 * closes a `Connection: close` answer at once (`socket.destroySoon()` when the answer is
 * written): with request bytes still unread the kernel answers them with a reset, which can
 * throw away the answer still in flight, and a client still sending sees EPIPE or ECONNRESET
 * instead of its 4xx. So the rest of the body is read and dropped (at most `limitBytes`, and
 * only until HTTP_REQUEST_TIMEOUT_MS since the request began: the server's request timeout
 * then closes the connection), the answer is followed by a half-close (FIN) so the client
 * knows no more is coming, and the connection is closed once the request has been read: the
 * staged close HTTP/1.1 asks of a server that closes a connection (RFC 9112, 9.6).
 *
 * Costs a listener per request; does nothing when the request was read to its end.
 */
export function readToTheEnd(
	req: IncomingMessage,
	res: ServerResponse,
	limitBytes = DISCARD_LIMIT_BYTES,
): void {
	// before node's own 'finish' listener, which closes the connection or dumps the body
	res.prependOnceListener('finish', () => {
		if (req.complete) return;
		const socket = req.socket;
		if (socket.destroyed) return;
		discarding.add(socket);
		let discarded = 0;
		const drop = (chunk: Buffer) => {
			discarded += chunk.length;
			if (discarded <= limitBytes) return;
			// a body without end: no more is read; closed after the linger
			req.off('data', drop);
			req.pause();
			socket.pause();
			const linger = setTimeout(() => socket.destroy(), LINGER_MS);
			socket.once('close', () => clearTimeout(linger));
		};
		// a `Connection: close` answer: half-close now, close once the request is read
		let closing = false;
		socket.destroySoon = () => {
			closing = true;
			socket.end();
		};
		req.once('end', () => {
			discarding.delete(socket);
			req.off('data', drop);
			delete (socket as Partial<Pick<Socket, 'destroySoon'>>).destroySoon;
			if (closing) socket.destroySoon();
		});
		req.on('data', drop);
		req.resume();
	});
}
