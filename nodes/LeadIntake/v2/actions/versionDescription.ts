import type { INodeOutputConfiguration, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { OUTCOME_HINTS } from '../../outcome';
import { CREDENTIAL } from '../../processor';
import * as dlqItem from './dlqItem/DlqItem.resource';
import * as kpi from './kpi/Kpi.resource';
import * as lead from './lead/Lead.resource';
import * as person from './person/Person.resource';
import type { Operation, OperationModule } from './node.type';
import * as rules from './rules/Rules.resource';
import * as run from './run/Run.resource';

/** What a version adds to the node's base description (LeadIntake.node.ts). */
export type VersionDescription = Omit<
	INodeTypeDescription,
	'displayName' | 'name' | 'group' | 'description'
>;

/** Every resource of versions 2, 2.1 and 2.2, in the order of the Resource list. */
export const resources = { dlqItem, kpi, lead, person, rules, run };

/** Every operation module, by its operation value (the values are unique across resources). */
export const operations = Object.fromEntries(
	Object.values(resources).flatMap((resource) =>
		Object.values(resource.operations as Record<string, OperationModule>).map(
			(module) => [module.option.value, module] as const,
		),
	),
) as Record<Operation, OperationModule>;

/** The outputs of each operation. */
export const OUTPUTS = Object.fromEntries(
	Object.entries(operations).map(([value, module]) => [value, module.outputs]),
) as Record<Operation, INodeOutputConfiguration[]>;

/** Expressions the editor evaluates: the outputs and the subtitle follow the chosen operation. */
export function operationExpressions(modules: Record<string, OperationModule>) {
	const per = <T>(pick: (module: OperationModule) => T) =>
		JSON.stringify(
			Object.fromEntries(Object.entries(modules).map(([value, module]) => [value, pick(module)])),
		);
	return {
		outputs:
			`={{ (${per(({ outputs }) => outputs)})[$parameter["operation"] ?? "submitLead"] }}` as const,
		subtitle: `={{ (${per(({ subtitle }) => subtitle)})[$parameter["operation"] ?? "submitLead"] }}`,
	};
}

const expressions = operationExpressions(operations);

/**
 * Versions 2, 2.1 (adds Answer the Lead Source) and 2.2 (adds Answer the Source: when the lead is
 * stored, the default, or when the CRM has it).
 */
export const versionDescription: VersionDescription = {
	version: [2, 2.1, 2.2],
	subtitle: expressions.subtitle,
	defaults: { name: 'Lead Intake' },
	inputs: [NodeConnectionTypes.Main],
	outputs: expressions.outputs,
	credentials: [{ name: CREDENTIAL, required: true }],
	usableAsTool: true,
	hints: OUTCOME_HINTS,
	properties: [
		{
			displayName: 'Resource',
			name: 'resource',
			type: 'options',
			noDataExpression: true,
			options: [
				{ name: 'DLQ Item', value: 'dlqItem', description: 'Leads whose delivery failed' },
				{ name: 'KPI', value: 'kpi', description: 'Daily figures and the stakeholder report' },
				{ name: 'Lead', value: 'lead', description: 'Send a lead to the processor' },
				{
					name: 'Person',
					value: 'person',
					description: 'Erase or export everything held about a person',
				},
				{
					name: 'Rule',
					value: 'rules',
					description: 'The versioned rules: business rules, CRM mapping, duplicate settings',
				},
				{
					name: 'Run',
					value: 'run',
					description: "One lead's record: status, audit trail, attempts",
				},
			],
			default: 'lead',
		},
		...lead.description,
		...run.description,
		...dlqItem.description,
		...kpi.description,
		...person.description,
		...rules.description,
	],
};
