import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as computeDaily from './computeDaily.operation';

/** KPI: daily figures and the stakeholder report. */
export const operations = { computeDaily } satisfies Record<string, OperationModule>;

export const description = resourceDescription('kpi', operations, 'computeKpi');
