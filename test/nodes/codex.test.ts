import { readFileSync } from 'fs';
import { join } from 'path';
import type { INodeType } from 'n8n-workflow';
import { AlertRouter } from '../../nodes/AlertRouter/AlertRouter.node';
import { LeadIntake } from '../../nodes/LeadIntake/LeadIntake.node';
import { LeadOutcomeTrigger } from '../../nodes/LeadOutcomeTrigger/LeadOutcomeTrigger.node';
import { LeadSourceTrigger } from '../../nodes/LeadSourceTrigger/LeadSourceTrigger.node';

/**
 * The codex file beside each node (what n8n's nodes panel reads): it names the node, its default
 * version and categories n8n knows. n8n's documented list of codex categories, spelled as n8n
 * requires; a category outside it puts the node in no section of the nodes panel.
 */
const N8N_CODEX_CATEGORIES = [
	'Analytics',
	'Communication',
	'Data & Storage',
	'Development',
	'Finance & Accounting',
	'Marketing & Content',
	'Miscellaneous',
	'Productivity',
	'Sales',
	'Utility',
];

const packageName = (
	JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
		name: string;
	}
).name;

const nodes: [string, INodeType][] = [
	['LeadIntake', new LeadIntake()],
	['LeadSourceTrigger', new LeadSourceTrigger()],
	['AlertRouter', new AlertRouter()],
	['LeadOutcomeTrigger', new LeadOutcomeTrigger()],
];

interface Codex {
	node: string;
	nodeVersion: string;
	codexVersion: string;
	categories: string[];
	resources: Record<string, { url: string }[]>;
}

test.each(nodes)(
	'%s.node.json names the node, its default version and n8n categories',
	(folder, node) => {
		const codex = JSON.parse(
			readFileSync(join(__dirname, '..', '..', 'nodes', folder, `${folder}.node.json`), 'utf8'),
		) as Codex;
		const { description } = node;
		expect(codex.node).toBe(`${packageName}.${description.name}`);
		const versions = [description.version].flat();
		const defaultVersion = description.defaultVersion ?? Math.max(...versions);
		// n8n writes whole versions with one decimal: 2 is "2.0"
		expect(codex.nodeVersion).toBe(
			String(Number.isInteger(defaultVersion) ? defaultVersion.toFixed(1) : defaultVersion),
		);
		expect(codex.codexVersion).toBe('1.0');
		expect(codex.categories.length).toBeGreaterThan(0);
		for (const category of codex.categories) expect(N8N_CODEX_CATEGORIES).toContain(category);
		expect(codex.resources.primaryDocumentation?.length).toBeGreaterThan(0);
	},
);
