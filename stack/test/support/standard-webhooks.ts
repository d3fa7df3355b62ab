import { createHmac } from 'node:crypto';

/**
 * The Standard Webhooks headers of `body` sent now with `id`, signed with `secret` (its UTF-8
 * bytes), as the Lead Intake node signs a lead and the processor signs an outcome event.
 */
export function standardWebhookHeaders(
	secret: string,
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
