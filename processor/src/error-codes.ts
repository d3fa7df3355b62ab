/**
 * Every error code the processor answers with, declared once: its HTTP status and what it means.
 * Code elsewhere uses `ERR.<code>`, never a literal; docs/contract.md's "Error codes" table lists the
 * same codes and a test (processor/test/unit/error-codes.test.ts) proves the two equal.
 */
export const ERROR_CODES = {
	bad_request: {
		status: 400,
		description: 'the request is not valid HTTP/1.1 or could not be read',
	},
	host_missing: { status: 400, description: 'an HTTP/1.1 request without a Host header' },
	invalid_json: { status: 400, description: 'the body is not valid JSON' },
	invalid_utf8: { status: 400, description: 'the body is not valid UTF-8' },
	invalid_body: { status: 400, description: 'the body does not decompress (Content-Encoding)' },
	invalid_path: { status: 400, description: 'the path is not valid percent-encoding' },
	invalid_request: {
		status: 400,
		description: 'bad or unknown parameters or fields, each named in the answer',
	},
	invalid_range: {
		status: 400,
		description:
			'`from` is not before `to` (for KPI days: `from` is after `to`), or a ledger range longer than 31 days',
	},
	content_length_mismatch: {
		status: 400,
		description: 'the body is not as long as Content-Length says',
	},
	request_aborted: { status: 400, description: 'the client stopped sending the body' },
	idempotency_key_missing: { status: 400, description: 'no X-Idempotency-Key header' },
	idempotency_key_invalid: {
		status: 400,
		description:
			'X-Idempotency-Key is not 1–200 printable ASCII characters, or begins `erased:` (reserved)',
	},
	idempotency_key_conflict: {
		status: 400,
		description: 'X-Idempotency-Key and webhook-id disagree',
	},
	source_invalid: { status: 400, description: 'X-Source is not a valid source name' },
	webhook_id_invalid: {
		status: 400,
		description:
			'webhook-id is not 1–200 printable ASCII characters, or begins `erased:` (reserved)',
	},
	timestamp_invalid: {
		status: 400,
		description: 'the signature timestamp is not an integer (Unix seconds)',
	},
	unauthorized: { status: 401, description: 'no valid service token (Authorization: Bearer …)' },
	signature_missing: { status: 401, description: 'the signature headers are missing' },
	signature_invalid: {
		status: 401,
		description: 'no signature matches the body with a current key',
	},
	signature_scheme_disabled: {
		status: 401,
		description: 'a legacy (v1) signature while the legacy scheme is off',
	},
	not_found: { status: 404, description: 'no route for this method and path' },
	run_not_found: { status: 404, description: 'no such run' },
	dlq_item_not_found: { status: 404, description: 'no such DLQ item' },
	rules_version_not_found: { status: 404, description: 'no such rules version' },
	request_timeout: {
		status: 408,
		description: 'headers or body too slow (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)',
	},
	timestamp_out_of_window: {
		status: 409,
		description: 'the signature timestamp is outside the tolerance window',
	},
	signature_replayed: {
		status: 409,
		description: 'this legacy (v1) signature was already used with another idempotency key',
	},
	request_in_progress: {
		status: 409,
		description: 'the same key is being processed right now (with Retry-After)',
	},
	dlq_item_not_retryable: {
		status: 409,
		description: 'the DLQ item is not in a state that can be retried',
	},
	dlq_item_not_resolvable: {
		status: 409,
		description: 'the DLQ item is not in a state that can be resolved',
	},
	rules_version_conflict: {
		status: 409,
		description: 'someone saved the rules since the version the change was based on',
	},
	payload_too_large: { status: 413, description: 'the body (or a chunk extension) is too large' },
	unsupported_content_type: { status: 415, description: 'the body is not application/json' },
	unsupported_charset: { status: 415, description: 'a JSON body that is not UTF-8' },
	unsupported_content_encoding: {
		status: 415,
		description: 'a Content-Encoding that is not accepted here',
	},
	expectation_failed: { status: 417, description: 'an Expect header other than 100-continue' },
	invalid_lead: {
		status: 422,
		description: 'the lead does not have the expected shape (with the issues)',
	},
	lead_too_deep: { status: 422, description: 'the lead nests too deep' },
	lead_too_large: { status: 422, description: 'the lead has too many values' },
	lead_forbidden_key: {
		status: 422,
		description: 'the lead uses a forbidden key (e.g. `__proto__`)',
	},
	lead_invalid_text: { status: 422, description: 'the lead holds text that is not allowed' },
	idempotency_key_reused: { status: 422, description: 'the same key with another body' },
	rules_version_not_restorable: {
		status: 422,
		description: "the rules version does not pass today's checks",
	},
	rate_limited: { status: 429, description: 'past a rate limit (with Retry-After)' },
	headers_too_large: { status: 431, description: 'the request headers are larger than 16 KB' },
	internal_error: { status: 500, description: 'an unexpected error; quote the correlation id' },
	database_unavailable: {
		status: 503,
		description: 'the database did not answer in time (with Retry-After)',
	},
	rate_limit_unavailable: {
		status: 503,
		description:
			'the shared rate-limit count could not be read in time (RATE_LIMIT_STORE_FAILURE=closed; with Retry-After)',
	},
	rules_busy: { status: 503, description: 'other rules saves kept overtaking this one; try again' },
	rules_not_in_force: {
		status: 503,
		description:
			'the rules version is saved but this processor could not load it yet; the same save again answers once it is in force (with Retry-After)',
	},
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** `ERR.invalid_json === 'invalid_json'`: the constant to write where a code is answered. */
export const ERR = Object.fromEntries(Object.keys(ERROR_CODES).map((code) => [code, code])) as {
	readonly [K in ErrorCode]: K;
};

/** The codes a signature check refuses with (intake/signature.ts). */
export type SignatureFailureCode =
	| typeof ERR.signature_missing
	| typeof ERR.signature_invalid
	| typeof ERR.signature_scheme_disabled
	| typeof ERR.timestamp_invalid
	| typeof ERR.timestamp_out_of_window
	| typeof ERR.webhook_id_invalid;
