/**
 * The floor of any n8n webhook workflow: a Webhook node answered by a Respond to Webhook node with
 * a fixed JSON body, no expression, nothing else. What n8n costs per execution before a workflow
 * does anything at all.
 */
const FLOOR_WORKFLOW_ID = 'lihBenchFloor001';
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

const HAND_OFF_WORKFLOW_ID = 'lihBenchHandOff1';
export const HAND_OFF_WEBHOOK_PATH = 'bench-hand-off';

/**
 * The floor plus the least a workflow that hands a lead on can do: one call with n8n's own HTTP
 * Request node to a server that does no work (`url`, the mock CRM's health), no expression. What
 * it reaches is about the most a lead workflow that passes its lead on over HTTP can reach.
 */
export function handOffWorkflow(url: string) {
	const floor = floorWorkflow();
	const [webhook, respond] = floor.nodes;
	return {
		...floor,
		id: HAND_OFF_WORKFLOW_ID,
		name: 'Benchmark: Webhook → HTTP Request → Respond',
		nodes: [
			{
				...webhook!,
				id: 'f0000000-0000-4000-8000-000000000011',
				parameters: { ...webhook!.parameters, path: HAND_OFF_WEBHOOK_PATH },
				webhookId: 'f0000000-0000-4000-8000-0000000001ff',
			},
			{
				id: 'f0000000-0000-4000-8000-000000000012',
				name: 'HTTP Request',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion: 4.2,
				position: [220, 0],
				parameters: { url, options: {} },
			},
			{ ...respond!, id: 'f0000000-0000-4000-8000-000000000013', position: [440, 0] },
		],
		connections: {
			Webhook: { main: [[{ node: 'HTTP Request', type: 'main', index: 0 }]] },
			'HTTP Request': { main: [[{ node: 'Respond', type: 'main', index: 0 }]] },
		},
	};
}
