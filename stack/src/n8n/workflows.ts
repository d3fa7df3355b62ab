import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The workflow files in workflows/: one JSON per workflow, with a stable `id` and our own
 * `version`. The export keeps exactly the fields a reviewer should see in a diff, in a fixed order,
 * so an unedited workflow exports byte for byte as it was imported.
 */
export interface WorkflowFile {
	id: string;
	name: string;
	version: number;
	active: boolean;
	nodes: Record<string, unknown>[];
	connections: Record<string, unknown>;
	settings: Record<string, unknown>;
	pinData: Record<string, unknown>;
}

const NODE_KEYS = [
	'id',
	'name',
	'type',
	'typeVersion',
	'position',
	'parameters',
	'credentials',
	'webhookId',
	'disabled',
	'notes',
	'notesInFlow',
	'onError',
	'retryOnFail',
	'maxTries',
	'waitBetweenTries',
	'alwaysOutputData',
	'executeOnce',
];

export async function readWorkflowFiles(
	dir: string,
): Promise<Map<string, { file: string; workflow: WorkflowFile }>> {
	const files = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
	const workflows = new Map<string, { file: string; workflow: WorkflowFile }>();
	for (const file of files) {
		const workflow = JSON.parse(await readFile(join(dir, file), 'utf8')) as WorkflowFile;
		workflows.set(workflow.id, { file, workflow });
	}
	return workflows;
}

/**
 * What n8n exported, as our file: the version goes up by one when anything a person can edit
 * (name, nodes, connections, settings, pinned data) differs from the file.
 */
function toWorkflowFile(
	exported: Record<string, unknown>,
	current: WorkflowFile | null,
): WorkflowFile {
	const candidate: WorkflowFile = {
		id: String(exported.id),
		name: String(exported.name),
		version: current?.version ?? 1,
		active: false,
		nodes: ((exported.nodes as Record<string, unknown>[]) ?? []).map(canonicalNode),
		connections: (exported.connections as Record<string, unknown>) ?? {},
		settings: (exported.settings as Record<string, unknown>) ?? {},
		pinData: (exported.pinData as Record<string, unknown>) ?? {},
	};
	if (
		current &&
		serialize({ ...candidate, version: 0 }) !== serialize({ ...current, version: 0 })
	) {
		candidate.version = current.version + 1;
	}
	return candidate;
}

function serialize(workflow: WorkflowFile): string {
	return `${JSON.stringify(workflow, null, '\t')}\n`;
}

function canonicalNode(node: Record<string, unknown>): Record<string, unknown> {
	const ordered: Record<string, unknown> = {};
	for (const key of NODE_KEYS) if (node[key] !== undefined) ordered[key] = node[key];
	for (const key of Object.keys(node).sort()) if (!(key in ordered)) ordered[key] = node[key];
	return ordered;
}

/**
 * Writes n8n's current workflows into `targetDir` as workflow files: those whose id has a file in
 * `filesDir` under that file's name, new ones under a name made from theirs. Returns the file
 * names whose content changed.
 */
export async function writeExportedWorkflows(
	exportDir: string,
	filesDir: string,
	targetDir: string,
): Promise<string[]> {
	const current = await readWorkflowFiles(filesDir);
	const changed: string[] = [];
	for (const name of (await readdir(exportDir)).filter((file) => file.endsWith('.json')).sort()) {
		const exported = JSON.parse(await readFile(join(exportDir, name), 'utf8')) as Record<
			string,
			unknown
		>;
		if (exported.isArchived === true) continue;
		const known = current.get(String(exported.id));
		const file = known?.file ?? `${slug(String(exported.name))}.json`;
		const content = serialize(toWorkflowFile(exported, known?.workflow ?? null));
		const previous = await readFile(join(targetDir, file), 'utf8').catch(() => null);
		if (previous !== content) changed.push(file);
		await writeFile(join(targetDir, file), content);
	}
	return changed;
}

function slug(name: string): string {
	return (
		name
			.toLowerCase()
			.replace(/[^a-z0-9]+/g, '-')
			.replace(/^-|-$/g, '') || 'workflow'
	);
}
