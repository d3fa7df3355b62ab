import { createHmac } from 'node:crypto';

/**
 * The Standard Webhooks headers of `body` sent now with `id`, signed with `secret` (its UTF-8
 * bytes, or the key bytes themselves), as the processor signs an outcome event.
 */
export function standardWebhookHeaders(
	secret: string | Buffer,
	id: string,
	body: string,
): Record<string, string> {
	const timestamp = String(Math.floor(Date.now() / 1000));
	const signature = createHmac('sha256', secret)
		.update(`${id}.${timestamp}.${body}`)
		.digest('base64');
	return {
		'content-type': 'application/json',
		'webhook-id': id,
		'webhook-timestamp': timestamp,
		'webhook-signature': `v1,${signature}`,
	};
}

/**
 * A lead for the processor's intake from `source`, signed as the Lead Intake node signs it (answered
 * on delivery): with the key bound to the source (docs/contract.md, "The source").
 */
export function signedLeadHeaders(
	secret: string,
	source: string,
	id: string,
	body: string,
): Record<string, string> {
	const bound = createHmac('sha256', secret).update(`lead-intake source:${source}`).digest();
	return { ...standardWebhookHeaders(bound, id, body), 'x-source': source };
}
