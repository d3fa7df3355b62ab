import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as erase from './erase.operation';
import * as exportPerson from './export.operation';

/** Person: erase or export everything held about someone (docs/privacy.md). */
export const operations = { erase, export: exportPerson } satisfies Record<string, OperationModule>;

export const description = resourceDescription('person', operations, 'exportPerson');
