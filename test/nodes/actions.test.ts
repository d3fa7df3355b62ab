import type { INodePropertyOptions, INodeType, IVersionedNodeType } from 'n8n-workflow';
import { AlertRouter } from '../../nodes/AlertRouter/AlertRouter.node';
import { LeadIntake } from '../../nodes/LeadIntake/LeadIntake.node';
import { LeadOutcomeTrigger } from '../../nodes/LeadOutcomeTrigger/LeadOutcomeTrigger.node';
import { LeadSourceTrigger } from '../../nodes/LeadSourceTrigger/LeadSourceTrigger.node';

/**
 * The actions n8n's nodes panel lists for a node's default version follow n8n's UX guidelines:
 * sentence case, naming their resource without an article ("Update row in sheet").
 */
const nodes: [string, INodeType | IVersionedNodeType][] = [
	['Lead Intake', new LeadIntake()],
	['Lead Source Trigger', new LeadSourceTrigger()],
	['Alert Router', new AlertRouter()],
	['Lead Outcome Trigger', new LeadOutcomeTrigger()],
];

function actionsOf(node: INodeType | IVersionedNodeType): string[] {
	const nodeType = 'getNodeType' in node ? node.getNodeType() : node;
	return nodeType.description.properties.flatMap((property) =>
		(property.options ?? []).flatMap((option) => {
			const action = (option as INodePropertyOptions).action;
			return typeof action === 'string' ? [action] : [];
		}),
	);
}

test('Lead Intake lists an action for each of its operations', () => {
	expect(actionsOf(new LeadIntake()).length).toBeGreaterThanOrEqual(14);
});

test.each(nodes)('%s: actions in sentence case, without articles', (_name, node) => {
	for (const action of actionsOf(node)) {
		const [first, ...rest] = action.split(' ');
		expect({ action, first: first![0] }).toEqual({ action, first: first![0]!.toUpperCase() });
		for (const word of rest) {
			expect({ action, word }).not.toEqual({
				action,
				word: expect.stringMatching(/^(a|an|the)$/i),
			});
			// an acronym (DLQ, KPI) keeps its capitals; any other word is lower case
			if (word !== word.toUpperCase())
				expect({ action, word }).toEqual({ action, word: word.toLowerCase() });
		}
	}
});
