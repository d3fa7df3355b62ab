import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workflowsDir } from '../repo.js';

/**
 * Our lead intake workflow as shipped, under its own id and path, with the source's rate limit out
 * of reach: the benchmarks measure what a lead costs, not how fast the trigger refuses one (a 429
 * answered before any execution would count as a very cheap lead).
 */
export const BENCH_LEAD_WEBHOOK_PATH = 'bench-lead-intake';
/** The same workflow answering the source when the CRM has the lead (Lead Intake's other mode). */
export const BENCH_LEAD_ON_DELIVERY_WEBHOOK_PATH = 'bench-lead-intake-on-delivery';

interface WorkflowFile {
	id: string;
	name: string;
	nodes: { type: string; parameters: Record<string, unknown>; webhookId?: string }[];
}

/**
 * The shipped workflow answering when the CRM has the lead: its Lead Intake node's Answer the
 * Source switched, under its own id and path (the benchmarks compare both answer modes).
 */
export function unthrottledLeadOnDeliveryWorkflow(): WorkflowFile {
	const workflow = unthrottledLeadWorkflow();
	for (const node of workflow.nodes) {
		if (node.type.endsWith('.leadIntake')) node.parameters.answerWhen = 'delivered';
		if (node.type.endsWith('.leadSourceTrigger')) {
			node.parameters.path = BENCH_LEAD_ON_DELIVERY_WEBHOOK_PATH;
			node.webhookId = 'b0000000-0000-4000-8000-0000000000bd';
		}
	}
	return {
		...workflow,
		id: 'lihBenchLeads002',
		name: 'Benchmark: lead intake, answered on delivery',
	};
}

export function unthrottledLeadWorkflow(): WorkflowFile {
	const workflow = JSON.parse(
		readFileSync(join(workflowsDir, 'lead-intake.json'), 'utf8'),
	) as WorkflowFile;
	const triggers = workflow.nodes.filter((node) => node.type.endsWith('.leadSourceTrigger'));
	if (triggers.length !== 1) throw new Error('lead-intake.json must have one Lead Source Trigger');
	Object.assign(triggers[0]!, {
		parameters: {
			...triggers[0]!.parameters,
			path: BENCH_LEAD_WEBHOOK_PATH,
			rateLimitPerMinute: 1_000_000_000,
		},
		webhookId: 'b0000000-0000-4000-8000-0000000000bb',
	});
	return { ...workflow, id: 'lihBenchLeads001', name: 'Benchmark: lead intake, unthrottled' };
}
