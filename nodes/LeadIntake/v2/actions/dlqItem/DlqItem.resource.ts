import { resourceDescription } from '../common.descriptions';
import type { OperationModule } from '../node.type';
import * as getMany from './getMany.operation';
import * as replay from './replay.operation';
import * as resolve from './resolve.operation';
import * as retry from './retry.operation';
import * as retryDue from './retryDue.operation';

/** DLQ Item: leads whose delivery failed. */
export const operations = { getMany, replay, resolve, retry, retryDue } satisfies Record<
	string,
	OperationModule
>;

export const description = resourceDescription('dlqItem', operations, 'listDlq');
