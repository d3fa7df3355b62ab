/**
 * The source documents' approach, for comparison only: a Code node computes the HMAC and an
 * HTTP Request node posts to the processor (the original design, before our nodes).
 */
export const SEED_WORKFLOW_ID = 'lihBenchSeed0001';
export const SEED_WEBHOOK_PATH = 'lead-intake-seed';

export function seedWorkflow(processorUrl: string, secret: string) {
	const code = `const crypto = require('crypto');
const secret = ${JSON.stringify(secret)};
return $input.all().map((item) => {
  const body = JSON.stringify(item.json.body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = 'sha256=' + crypto.createHmac('sha256', secret).update(timestamp + '.' + body).digest('hex');
  const key = 'sha256-' + crypto.createHash('sha256').update(body).digest('hex');
  return { json: { body, headers: { 'content-type': 'application/json', 'x-timestamp': timestamp, 'x-signature': signature, 'x-idempotency-key': key, 'x-source': 'n8n' } } };
});`;
	return {
		id: SEED_WORKFLOW_ID,
		name: 'Benchmark: seed approach (Code + HTTP Request)',
		active: false,
		nodes: [
			{
				id: 'b0000000-0000-4000-8000-000000000001',
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				parameters: {
					httpMethod: 'POST',
					path: SEED_WEBHOOK_PATH,
					responseMode: 'responseNode',
					options: {},
				},
				webhookId: 'b0000000-0000-4000-8000-0000000000ff',
			},
			{
				id: 'b0000000-0000-4000-8000-000000000002',
				name: 'Sign',
				type: 'n8n-nodes-base.code',
				typeVersion: 2,
				position: [220, 0],
				parameters: { jsCode: code },
			},
			{
				id: 'b0000000-0000-4000-8000-000000000003',
				name: 'Send to processor',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion: 4.2,
				position: [440, 0],
				parameters: {
					method: 'POST',
					url: `${processorUrl}/webhook/lead`,
					sendHeaders: true,
					specifyHeaders: 'json',
					jsonHeaders: '={{ JSON.stringify($json.headers) }}',
					sendBody: true,
					contentType: 'raw',
					rawContentType: 'application/json',
					body: '={{ $json.body }}',
					options: { response: { response: { fullResponse: true, neverError: true } } },
				},
			},
			{
				id: 'b0000000-0000-4000-8000-000000000004',
				name: 'Respond',
				type: 'n8n-nodes-base.respondToWebhook',
				typeVersion: 1.1,
				position: [660, 0],
				parameters: {
					respondWith: 'json',
					responseBody: '={{ $json.body }}',
					options: { responseCode: '={{ $json.statusCode }}' },
				},
			},
		],
		connections: {
			Webhook: { main: [[{ node: 'Sign', type: 'main', index: 0 }]] },
			Sign: { main: [[{ node: 'Send to processor', type: 'main', index: 0 }]] },
			'Send to processor': { main: [[{ node: 'Respond', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
		pinData: {},
	};
}
