import express, { Router, type Request } from 'express';
import { HttpError } from '../errors.js';
import { perSourceRateLimit } from '../http/rate-limit.js';
import type { Logger } from '../logger.js';
import { sanitizeHeaders } from '../pii/sanitize.js';
import { handleLead, type IntakeDeps } from './intake-service.js';
import { verifySignature, type SignatureFailureCode } from './signature.js';

export interface IntakeRouteOptions {
	intake: IntakeDeps;
	hmacSecrets: readonly string[];
	maxSkewSeconds: number;
	bodyLimitBytes: number;
	rateLimitPerMinute: number;
	faultInjection: boolean;
	recordSignatureFailure: (code: SignatureFailureCode, req: Request, rawBody: Buffer, log: Logger) => Promise<void>;
	countLead: (outcome: string) => void;
}

const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,200}$/;
const SOURCE = /^[A-Za-z0-9._:/@-]{1,100}$/;

/** POST /webhook/lead: the signed intake endpoint n8n's Lead Intake node calls. */
export function intakeRouter(options: IntakeRouteOptions): Router {
	const router = Router();
	router.post(
		'/webhook/lead',
		perSourceRateLimit(options.rateLimitPerMinute),
		// the raw bytes: the signature covers exactly what was sent
		express.raw({ type: () => true, limit: options.bodyLimitBytes }),
		async (req, res) => {
			const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
			const verdict = verifySignature(
				{ timestamp: req.get('x-timestamp'), signature: req.get('x-signature'), rawBody },
				{
					secrets: options.hmacSecrets,
					maxSkewSeconds: options.maxSkewSeconds,
					nowSeconds: Math.floor(options.intake.now().getTime() / 1000),
				},
			);
			if (!verdict.ok) {
				if (verdict.status !== 400) await options.recordSignatureFailure(verdict.code, req, rawBody, req.log);
				throw new HttpError(verdict.status, verdict.code, verdict.message);
			}

			const answer = await handleLead(options.intake, {
				rawBody,
				idempotencyKey: readIdempotencyKey(req),
				source: readSource(req),
				correlationId: String(req.id),
				headers: sanitizeHeaders(req.headers),
				failAfterAccept: options.faultInjection && req.get('x-fail-after-accept') === '1',
			});
			res.locals.runId = answer.runId;
			options.countLead(String(answer.body.status));
			res.status(answer.httpStatus).json(answer.body);
		},
	);
	return router;
}

function readIdempotencyKey(req: Request): string {
	const key = req.get('x-idempotency-key')?.trim();
	if (!key) throw new HttpError(400, 'idempotency_key_missing', 'X-Idempotency-Key header is required');
	if (!IDEMPOTENCY_KEY.test(key)) {
		throw new HttpError(400, 'idempotency_key_invalid', 'X-Idempotency-Key must be 1-200 printable ASCII characters');
	}
	return key;
}

function readSource(req: Request): string {
	const source = req.get('x-source')?.trim();
	if (!source) return 'unknown';
	if (!SOURCE.test(source)) {
		throw new HttpError(400, 'source_invalid', 'X-Source must be 1-100 characters of A-Z a-z 0-9 . _ : / @ -');
	}
	return source;
}
