import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../local-stack.js';
import { floorWorkflow } from './floor-workflow.js';
import { unthrottledLeadWorkflow } from './lead-workflow.js';

/**
 * The stack the n8n benchmarks measure: a throwaway database, free ports, a quiet processor with
 * its own rate limit out of reach, and the two benchmark workflows (the floor and the unthrottled
 * lead intake) imported beside the shipped ones. `workflowFiles` lets other n8n deployments
 * import the same two.
 */
export async function startBenchStack(options: {
	workDir: string;
	log: (line: string) => void;
	n8nEnv?: Record<string, string>;
}): Promise<{ stack: LocalStack; workflowFiles: string[] }> {
	const floorFile = join(options.workDir, 'floor-workflow.json');
	const leadFile = join(options.workDir, 'lead-workflow.json');
	await writeFile(floorFile, JSON.stringify(floorWorkflow()));
	await writeFile(leadFile, JSON.stringify(unthrottledLeadWorkflow()));
	const workflowFiles = [floorFile, leadFile];
	const stack = await startLocalStack({
		throwaway: true,
		n8n: true,
		alertsDir: join(options.workDir, 'alerts'),
		ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0, n8n: 0 },
		processorEnv: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '100000000' },
		n8nExtras: { workflowFiles, env: options.n8nEnv },
		log: options.log,
	});
	return { stack, workflowFiles };
}
