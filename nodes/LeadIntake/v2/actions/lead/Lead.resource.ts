import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as submit from './submit.operation';

/** Lead: send a lead to the processor. */
export const operations = { submit } satisfies Record<string, OperationModule>;

export const description = resourceDescription('lead', operations, 'submitLead');
