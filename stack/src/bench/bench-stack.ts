import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { startLocalStack, type LocalStack } from '../local-stack.js';
import { freePort } from '../ports.js';
import { floorWorkflow, handOffWorkflow } from './floor-workflow.js';
import { unthrottledLeadOnDeliveryWorkflow, unthrottledLeadWorkflow } from './lead-workflow.js';

/**
 * The stack the n8n benchmarks measure: a throwaway database, free ports, a quiet processor with
 * its own rate limit out of reach, and the benchmark workflows (the floor, the floor with one HTTP
 * call to the mock CRM, and the unthrottled lead intake in both answer modes) imported beside the
 * shipped ones.
 * `workflowFiles` lets other n8n deployments import the same ones.
 */
export async function startBenchStack(options: {
	workDir: string;
	log: (line: string) => void;
	n8nEnv?: Record<string, string>;
	postgresSettings?: Record<string, string>;
}): Promise<{ stack: LocalStack; workflowFiles: string[] }> {
	const floorFile = join(options.workDir, 'floor-workflow.json');
	const handOffFile = join(options.workDir, 'hand-off-workflow.json');
	const leadFile = join(options.workDir, 'lead-workflow.json');
	const onDeliveryFile = join(options.workDir, 'lead-workflow-on-delivery.json');
	// the hand-off workflow calls the mock CRM, so its port is chosen before the stack starts
	const crmPort = await freePort();
	await writeFile(floorFile, JSON.stringify(floorWorkflow()));
	await writeFile(
		handOffFile,
		JSON.stringify(handOffWorkflow(`http://127.0.0.1:${crmPort}/health`)),
	);
	await writeFile(leadFile, JSON.stringify(unthrottledLeadWorkflow()));
	await writeFile(onDeliveryFile, JSON.stringify(unthrottledLeadOnDeliveryWorkflow()));
	const workflowFiles = [floorFile, handOffFile, leadFile, onDeliveryFile];
	const stack = await startLocalStack({
		throwaway: true,
		postgresSettings: options.postgresSettings,
		n8n: true,
		alertsDir: join(options.workDir, 'alerts'),
		ports: { processor: 0, crm: crmPort, jiraConfluence: 0, postgres: 0, n8n: 0 },
		processorEnv: {
			LOG_LEVEL: 'warn',
			RATE_LIMIT_PER_MINUTE: '100000000',
			SOURCE_RATE_LIMIT_PER_MINUTE: '100000000',
		},
		n8nExtras: { workflowFiles, env: options.n8nEnv },
		log: options.log,
	});
	return { stack, workflowFiles };
}

/**
 * VACUUM ANALYZE the benchmark's databases once it has warmed up, as `npm run bench` does: the
 * figures are those of a deployment in its steady state, where autovacuum has analyzed every table
 * (within a minute or so of its first writes), not of a fresh database whose planner has yet to
 * see a row. In that first minute a lead's statements can choose plans that read every run.
 */
export async function vacuumAnalyze(databaseUrls: readonly string[]): Promise<void> {
	for (const url of databaseUrls) {
		const sql = postgres(url, { max: 1, onnotice: () => undefined });
		try {
			await sql.unsafe('VACUUM ANALYZE');
		} finally {
			await sql.end();
		}
	}
}
