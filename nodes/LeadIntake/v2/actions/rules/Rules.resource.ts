import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as dryRunRules from './dryRun.operation';
import * as getRules from './getCurrent.operation';
import * as listRulesVersions from './listVersions.operation';
import * as saveRules from './save.operation';

/** Rules: the versioned rules document (business rules, CRM mapping, duplicate settings). */
export const operations = {
	dryRunRules,
	getRules,
	listRulesVersions,
	saveRules,
} satisfies Record<string, OperationModule>;

export const description = resourceDescription('rules', operations, 'getRules');
