import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { OUTPUTS } from '../../nodes/LeadIntake/description';
import { OUTCOMES } from '../../nodes/LeadIntake/outcome';

/*
 * The workflow files wire the Lead Intake node by output index; these tests read each index as its
 * output name (from OUTCOMES / OUTPUTS), so a reordered list cannot silently rewire a workflow.
 */

interface WorkflowNode {
	name: string;
	type: string;
	typeVersion: number;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
}
interface Workflow {
	nodes: WorkflowNode[];
	connections: Record<string, { main: { node: string }[][] }>;
}

const dir = join(__dirname, '..', '..', 'workflows');
const workflows = Object.fromEntries(
	readdirSync(dir)
		.filter((file) => file.endsWith('.json'))
		.map((file) => [file, JSON.parse(readFileSync(join(dir, file), 'utf8')) as Workflow]),
);

/** Output name -> the nodes it feeds. */
function wiring(workflow: Workflow, nodeName: string, names: string[]): Record<string, string[]> {
	const outputs = workflow.connections[nodeName]?.main ?? [];
	expect(outputs.length).toBeLessThanOrEqual(names.length);
	return Object.fromEntries(
		names.map((name, index) => [name, (outputs[index] ?? []).map((target) => target.node)]),
	);
}

const outputNames = (operation: keyof typeof OUTPUTS) =>
	OUTPUTS[operation].map((output) => output.displayName!);

test('lead intake: the source trigger feeds Lead Intake, which answers; each outcome goes where its name says', () => {
	const workflow = workflows['lead-intake.json']!;
	const trigger = workflow.nodes.find((node) => node.type.endsWith('.leadSourceTrigger'))!;
	expect(trigger.parameters.path).toBe('lead-intake');
	expect(trigger.credentials).toEqual({
		leadSourceApi: { id: 'lihSourceDev0001', name: 'Lead source: development' },
	});
	expect(workflow.connections[trigger.name]!.main).toEqual([
		[expect.objectContaining({ node: 'Lead Intake' })],
	]);
	// Lead Intake answers the source itself: no Respond to Webhook node, no expression on the hot path
	expect(workflow.nodes.map((node) => node.type)).not.toContain('n8n-nodes-base.respondToWebhook');
	const leadIntake = workflow.nodes.find((node) => node.name === 'Lead Intake')!;
	expect(leadIntake.typeVersion).toBeGreaterThanOrEqual(2.1);
	expect(leadIntake.parameters.respondToSource ?? true).toBe(true);
	expect(JSON.stringify(workflow.nodes)).not.toContain('"=');
	expect(
		wiring(
			workflow,
			'Lead Intake',
			OUTCOMES.map((outcome) => outcome.displayName),
		),
	).toEqual({
		Accepted: [],
		Duplicate: [],
		Rejected: ['Alert: rejected'],
		Failed: ['Alert: failed'],
	});
	const alerts = workflow.nodes.filter((node) => node.name.startsWith('Alert: '));
	expect(alerts.map((node) => [node.name, node.parameters.deliverTo])).toEqual([
		['Alert: rejected', ['file']],
		['Alert: failed', ['file', 'jiraAlert']],
	]);
	for (const alert of alerts) expect(workflow.connections[alert.name]).toBeUndefined();
});

test('DLQ retry: dead items go to Jira only (the processor writes the follow-up files)', () => {
	const workflow = workflows['dlq-retry.json']!;
	const retry = workflow.nodes.find((node) => node.parameters.operation === 'retryDue')!;
	const [, deadTarget] = Object.values(wiring(workflow, retry.name, outputNames('retryDue')));
	expect(wiring(workflow, retry.name, outputNames('retryDue'))).toEqual({
		Summary: [],
		'Dead Items': deadTarget,
	});
	const alert = workflow.nodes.find((node) => node.name === deadTarget![0])!;
	expect(alert.type).toBe('n8n-nodes-lead-intake.alertRouter');
	expect(alert.parameters.deliverTo).toEqual(['jiraAlert']);
});

test('the error handler still writes a file for a workflow error', () => {
	const alert = workflows['error-handler.json']!.nodes.find((node) =>
		node.type.endsWith('.alertRouter'),
	)!;
	expect(alert.parameters.deliverTo).toEqual(['file', 'jiraAlert']);
});

test('every node of ours in the workflow files is at the newest version, credentials by id', () => {
	const newest: Record<string, number> = {
		'n8n-nodes-lead-intake.leadSourceTrigger': 1.1,
		'n8n-nodes-lead-intake.leadIntake': 2.1,
		'n8n-nodes-lead-intake.alertRouter': 2,
	};
	for (const workflow of Object.values(workflows)) {
		for (const node of workflow.nodes) {
			if (node.type in newest)
				expect([node.name, node.typeVersion]).toEqual([node.name, newest[node.type]]);
			for (const credential of Object.values(node.credentials ?? {})) {
				expect(Object.keys(credential).sort()).toEqual(['id', 'name']);
			}
		}
	}
});
