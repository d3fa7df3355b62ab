import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { nameSome } from '../text/names.js';
import { HttpError, MAX_ISSUES } from '../errors.js';
import { sendError } from '../http/errors.js';
import { clientKey, takeLocally, type RateLimit } from '../http/rate-limit.js';
import { sendJson } from '../http/send-json.js';
import { storedIdempotencyKey } from '../pii/idempotency-key.js';
import { maskEmailsIn } from '../pii/sanitize.js';
import { handleLead, type IntakeDeps } from './intake-service.js';
import type { SignatureFailureLog } from './signature-failures.js';
import {
	IDEMPOTENCY_KEY_FORMAT,
	IDEMPOTENCY_KEY_RULE,
	readSignatureHeaders,
	sourceBoundKeys,
	verifyClaim,
	type SignatureClaim,
	type SignatureFailure,
	type SignatureVerdict,
	type SigningKey,
} from './signature.js';
import { ERR } from '../error-codes.js';
import { INTAKE_PATH } from '../vocabulary.js';

export interface IntakeRouteOptions {
	intake: IntakeDeps;
	signingKeys: readonly SigningKey[];
	/** The same secrets' answer-on-store keys (answerOnStoreKeys): for `Prefer: respond-async`. */
	answerOnStoreKeys: readonly SigningKey[];
	legacySignatures: boolean;
	/** Take a signature that does not cover X-Source (WEBHOOK_UNSIGNED_SOURCE; verifySource). */
	unsignedSource: boolean;
	maxSkewSeconds: number;
	bodyLimitBytes: number;
	/** Per verified signer (the secret that signed). */
	signerLimit: RateLimit;
	/**
	 * Per lead source (X-Source, which the Lead Intake node sets to the source its trigger
	 * authenticated): the per-source limit every n8n webhook process shares. A request without
	 * X-Source is held to the signer's limit only.
	 */
	sourceLimit: RateLimit;
	/**
	 * Refused signatures per client address: past it a refusal is answered 429 and not logged on
	 * its own line. Never consulted for a signature that matches: a good lead is never refused
	 * for what others sent from its address.
	 */
	refusalLimit: RateLimit;
	emailHashSalt: string;
	faultInjection: boolean;
	signatureFailures: SignatureFailureLog;
	countLead: (outcome: string) => void;
}

export { INTAKE_PATH };
const SOURCE = /^[A-Za-z0-9._:/@-]{1,100}$/;

/**
 * POST /webhook/lead: the signed intake endpoint n8n's Lead Intake node calls. A plain
 * node:http handler, not an express route: every lead passes here, and express's routing and
 * body parsing cost more CPU per lead than the rest of the processor's own work (docs/adr).
 */
export function intakeHandler(
	options: IntakeRouteOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
	const verifySource = sourceVerifier(options);
	const answer = async (req: IncomingMessage, res: ServerResponse) => {
		res.route = INTAKE_PATH;
		// what needs no body first: such refusals cost no read (read-to-the-end.ts drops the rest)
		refuseQuery(req);
		refuseEncoding(req);
		const declared = header(req, 'content-length');
		if (declared !== undefined && Number(declared) > options.bodyLimitBytes) {
			throw tooLarge(options.bodyLimitBytes);
		}
		const claim = readSignatureHeaders(
			{
				webhookId: header(req, 'webhook-id'),
				webhookTimestamp: header(req, 'webhook-timestamp'),
				webhookSignature: header(req, 'webhook-signature'),
				legacyTimestamp: header(req, 'x-timestamp'),
				legacySignature: header(req, 'x-signature'),
			},
			options.legacySignatures,
		);
		if ('ok' in claim) return refuseSignature(options, req, res, claim, null);
		// the raw bytes: the signature covers exactly what was sent
		const rawBody = await getRawBody(req, { limit: options.bodyLimitBytes, length: declared });
		// the answer mode is part of what is signed: the derived key signs an answer-on-store request
		const answerOnStore = prefersAsync(req);
		const sourceHeader = header(req, 'x-source')?.trim();
		const verdict = verifySource(req, claim, rawBody, answerOnStore, sourceHeader);
		if (!verdict.ok) return refuseSignature(options, req, res, verdict, rawBody);
		const idempotencyKey =
			verdict.scheme === 'v2' ? sameKey(req, verdict.webhookId) : readIdempotencyKey(req);
		const source = readSource(sourceHeader);
		// the shared count is made before the lead is written (handleLead)
		const rateCount = await takeLocally([
			[options.signerLimit, verdict.signer],
			...(source === 'unknown' ? [] : [[options.sourceLimit, source] as const]),
		]);
		const outcome = await handleLead(options.intake, {
			rawBody,
			idempotencyKey: storedIdempotencyKey(idempotencyKey, options.emailHashSalt),
			source,
			correlationId: req.id,
			headers: req.headers,
			failAfterAccept: options.faultInjection && header(req, 'x-fail-after-accept') === '1',
			signatureGuard: verdict.scheme === 'v1' ? verdict.replayGuard : null,
			answerOnStore,
			rateCount,
			log: req.log,
		});
		res.runId = outcome.runId;
		if (outcome.httpStatus === 202 && answerOnStore)
			res.setHeader('Preference-Applied', 'respond-async');
		options.countLead(String(outcome.body.status));
		sendJson(res, outcome.httpStatus, outcome.body);
	};

	return (req, res) => void answer(req, res).catch((error: unknown) => sendError(req, res, error));
}

/**
 * The signature, with the key bound to the request's `X-Source` (sourceBoundKey). A signature
 * made with the unbound key (a Lead Intake node from before sources were signed) is taken while
 * WEBHOOK_UNSIGNED_SOURCE is on, and said once per process (anyone on the way could have changed
 * such a request's source); while it is off, the refusal says what to do.
 */
function sourceVerifier(options: IntakeRouteOptions) {
	let unsignedSaid = false;
	return (
		req: IncomingMessage,
		claim: SignatureClaim,
		rawBody: Buffer,
		answerOnStore: boolean,
		source: string | undefined,
	): SignatureVerdict => {
		const keys = answerOnStore ? options.answerOnStoreKeys : options.signingKeys;
		const policy = {
			legacyEnabled: options.legacySignatures,
			toleranceSeconds: options.maxSkewSeconds,
			nowSeconds: Math.floor(options.intake.now().getTime() / 1000),
		};
		if (!source) return verifyClaim(claim, rawBody, { ...policy, keys });
		const bound = verifyClaim(claim, rawBody, { ...policy, keys: sourceBoundKeys(keys, source) });
		if (bound.ok || bound.code !== ERR.signature_invalid) return bound;
		const unbound = verifyClaim(claim, rawBody, { ...policy, keys });
		if (!unbound.ok && unbound.code === ERR.signature_invalid) return bound;
		if (!options.unsignedSource) {
			return {
				...bound,
				message:
					'The signature leaves X-Source out (a Lead Intake node from before sources were signed): update the node package in n8n, or set WEBHOOK_UNSIGNED_SOURCE=on until it is',
			};
		}
		// an older node's request, answered as before the source was signed (a stale one: 409)
		if (unbound.ok && !unsignedSaid) {
			unsignedSaid = true;
			req.log.warn(
				'a lead arrived with an unsigned X-Source (a Lead Intake node from before sources were signed): update the node package in n8n, then set WEBHOOK_UNSIGNED_SOURCE=off',
			);
		}
		return unbound;
	};
}

/**
 * A refused signature: a malformed one (400) is answered; a missing, wrong or stale one
 * (401, 409) is also counted for investigation and against the client's address. Past
 * REFUSED_PER_MINUTE such refusals from one address are answered 429 and logged at debug level
 * only (the refused-signature rows still count each one), which bounds what junk costs.
 */
async function refuseSignature(
	options: IntakeRouteOptions,
	req: IncomingMessage,
	res: ServerResponse,
	failure: SignatureFailure,
	rawBody: Buffer | null,
): Promise<never> {
	if (failure.status !== 400) {
		options.signatureFailures.record(failure.code, req, rawBody);
		try {
			await options.refusalLimit.take(clientKey(req.socket.remoteAddress));
		} catch (error) {
			res.quiet = true;
			throw error;
		}
	}
	throw new HttpError(failure.status, failure.code, failure.message);
}

/** `Prefer: respond-async` (RFC 7240), alone or among other preferences. */
export function prefersAsync(req: IncomingMessage): boolean {
	const values = req.headers.prefer;
	if (values === undefined) return false;
	return (Array.isArray(values) ? values : [values]).some((value) =>
		value
			.split(',')
			.some((preference) => preference.split(';')[0]!.trim().toLowerCase() === 'respond-async'),
	);
}

/** The intake takes no query parameters: one sent is refused, never ignored. */
function refuseQuery(req: IncomingMessage): void {
	const url = req.url ?? '';
	const at = url.indexOf('?');
	if (at === -1) return;
	const names = [...new Set(new URLSearchParams(url.slice(at + 1)).keys())];
	if (names.length === 0) return;
	throw new HttpError(
		400,
		ERR.invalid_request,
		`Unknown query parameter ${nameSome(names)}: the intake takes none; nothing was done`,
		{
			issues: names.slice(0, MAX_ISSUES).map((name) => ({
				path: name,
				message: 'unknown query parameter; this endpoint takes no query parameters',
			})),
		},
	);
}

function refuseEncoding(req: IncomingMessage): void {
	const encoding = header(req, 'content-encoding');
	if (encoding && encoding.toLowerCase() !== 'identity') {
		throw new HttpError(
			415,
			ERR.unsupported_content_encoding,
			'Send the lead uncompressed: the signature covers the raw body',
		);
	}
}

function tooLarge(limit: number): HttpError {
	return new HttpError(413, ERR.payload_too_large, `Request body is larger than ${limit} bytes`);
}

function header(req: IncomingMessage, name: string): string | undefined {
	const value = req.headers[name];
	return Array.isArray(value) ? value[0] : value;
}

/** v2: webhook-id is the key; an X-Idempotency-Key beside it must say the same. */
function sameKey(req: IncomingMessage, webhookId: string): string {
	const other = header(req, 'x-idempotency-key')?.trim();
	if (other !== undefined && other !== webhookId) {
		throw new HttpError(
			400,
			ERR.idempotency_key_conflict,
			'webhook-id and X-Idempotency-Key differ; send one key (webhook-id)',
		);
	}
	return webhookId;
}

function readIdempotencyKey(req: IncomingMessage): string {
	const key = header(req, 'x-idempotency-key')?.trim();
	if (!key) {
		throw new HttpError(400, ERR.idempotency_key_missing, 'X-Idempotency-Key header is required');
	}
	if (!IDEMPOTENCY_KEY_FORMAT.test(key)) {
		throw new HttpError(
			400,
			ERR.idempotency_key_invalid,
			`X-Idempotency-Key must be ${IDEMPOTENCY_KEY_RULE}`,
		);
	}
	return key;
}

/** Where the lead came from, as n8n's authenticated lead source names it; an e-mail in it is masked. */
function readSource(source: string | undefined): string {
	if (!source) return 'unknown';
	if (!SOURCE.test(source)) {
		throw new HttpError(
			400,
			ERR.source_invalid,
			'X-Source must be 1-100 characters of A-Z a-z 0-9 . _ : / @ -',
		);
	}
	return maskEmailsIn(source);
}
