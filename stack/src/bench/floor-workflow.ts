/**
 * The floor of any n8n webhook workflow: a Webhook node answered by a Respond to Webhook node with
 * a fixed JSON body, no expression, nothing else. What n8n costs per execution before a workflow
 * does anything at all.
 */
export const FLOOR_WORKFLOW_ID = 'lihBenchFloor001';
export const FLOOR_WEBHOOK_PATH = 'bench-floor';

export function floorWorkflow() {
	return {
		id: FLOOR_WORKFLOW_ID,
		name: 'Benchmark: bare Webhook → Respond',
		active: false,
		nodes: [
			{
				id: 'f0000000-0000-4000-8000-000000000001',
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				parameters: {
					httpMethod: 'POST',
					path: FLOOR_WEBHOOK_PATH,
					responseMode: 'responseNode',
					options: {},
				},
				webhookId: 'f0000000-0000-4000-8000-0000000000ff',
			},
			{
				id: 'f0000000-0000-4000-8000-000000000002',
				name: 'Respond',
				type: 'n8n-nodes-base.respondToWebhook',
				typeVersion: 1.1,
				position: [220, 0],
				parameters: { respondWith: 'json', responseBody: '{"status":"accepted"}', options: {} },
			},
		],
		connections: { Webhook: { main: [[{ node: 'Respond', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
		pinData: {},
	};
}
