import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as get from './get.operation';

/** Run: one lead's record (status, audit trail, attempts). */
export const operations = { get } satisfies Record<string, OperationModule>;

export const description = resourceDescription('run', operations, 'getRun');
