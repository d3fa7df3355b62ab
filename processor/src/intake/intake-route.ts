import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { HttpError } from '../errors.js';
import { sendError } from '../http/errors.js';
import { perSourceRateLimit } from '../http/rate-limit.js';
import { sendJson } from '../http/send-json.js';
import type { Logger } from '../logger.js';
import { sanitizeHeaders } from '../pii/sanitize.js';
import { handleLead, type IntakeDeps } from './intake-service.js';
import {
	IDEMPOTENCY_KEY_FORMAT,
	verifySignature,
	type SignatureFailureCode,
	type SigningKey,
} from './signature.js';

export interface IntakeRouteOptions {
	intake: IntakeDeps;
	signingKeys: readonly SigningKey[];
	legacySignatures: boolean;
	maxSkewSeconds: number;
	bodyLimitBytes: number;
	rateLimitPerMinute: number;
	faultInjection: boolean;
	recordSignatureFailure: (
		code: SignatureFailureCode,
		req: IncomingMessage,
		rawBody: Buffer,
		log: Logger,
	) => Promise<void>;
	countLead: (outcome: string) => void;
}

export const INTAKE_PATH = '/webhook/lead';
const SOURCE = /^[A-Za-z0-9._:/@-]{1,100}$/;

/**
 * POST /webhook/lead: the signed intake endpoint n8n's Lead Intake node calls. A plain
 * node:http handler, not an express route: every lead passes here, and express's routing and
 * body parsing cost more CPU per lead than the rest of the processor's own work (intake profile).
 */
export function intakeHandler(
	options: IntakeRouteOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
	const rateLimit = perSourceRateLimit(options.rateLimitPerMinute);

	const answer = async (req: IncomingMessage, res: ServerResponse) => {
		res.route = INTAKE_PATH;
		await rateLimit(req);
		// the raw bytes: the signature covers exactly what was sent
		const rawBody = await readBody(req, options.bodyLimitBytes);
		const verdict = verifySignature(
			{
				webhookId: header(req, 'webhook-id'),
				webhookTimestamp: header(req, 'webhook-timestamp'),
				webhookSignature: header(req, 'webhook-signature'),
				legacyTimestamp: header(req, 'x-timestamp'),
				legacySignature: header(req, 'x-signature'),
			},
			rawBody,
			{
				keys: options.signingKeys,
				legacyEnabled: options.legacySignatures,
				toleranceSeconds: options.maxSkewSeconds,
				nowSeconds: Math.floor(options.intake.now().getTime() / 1000),
			},
		);
		if (!verdict.ok) {
			if (verdict.status !== 400)
				await options.recordSignatureFailure(verdict.code, req, rawBody, req.log);
			throw new HttpError(verdict.status, verdict.code, verdict.message);
		}

		const outcome = await handleLead(options.intake, {
			rawBody,
			idempotencyKey: verdict.scheme === 'v2' ? verdict.webhookId : readIdempotencyKey(req),
			source: readSource(req),
			correlationId: req.id,
			headers: sanitizeHeaders(req.headers),
			failAfterAccept: options.faultInjection && header(req, 'x-fail-after-accept') === '1',
		});
		res.runId = outcome.runId;
		options.countLead(String(outcome.body.status));
		sendJson(res, outcome.httpStatus, outcome.body);
	};

	return (req, res) => void answer(req, res).catch((error: unknown) => sendError(req, res, error));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
	const encoding = header(req, 'content-encoding');
	if (encoding && encoding.toLowerCase() !== 'identity') {
		throw new HttpError(
			415,
			'unsupported_content_encoding',
			'Send the lead uncompressed: the signature covers the raw body',
		);
	}
	return getRawBody(req, { limit, length: header(req, 'content-length') });
}

function header(req: IncomingMessage, name: string): string | undefined {
	const value = req.headers[name];
	return Array.isArray(value) ? value[0] : value;
}

function readIdempotencyKey(req: IncomingMessage): string {
	const key = header(req, 'x-idempotency-key')?.trim();
	if (!key)
		throw new HttpError(400, 'idempotency_key_missing', 'X-Idempotency-Key header is required');
	if (!IDEMPOTENCY_KEY_FORMAT.test(key)) {
		throw new HttpError(
			400,
			'idempotency_key_invalid',
			'X-Idempotency-Key must be 1-200 printable ASCII characters',
		);
	}
	return key;
}

function readSource(req: IncomingMessage): string {
	const source = header(req, 'x-source')?.trim();
	if (!source) return 'unknown';
	if (!SOURCE.test(source)) {
		throw new HttpError(
			400,
			'source_invalid',
			'X-Source must be 1-100 characters of A-Z a-z 0-9 . _ : / @ -',
		);
	}
	return source;
}
