import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { recentCredentials } from '../../../common/recent-credentials';
import { CREDENTIAL, processorCall, type ProcessorCredentials } from '../../processor';
import type { OperationModule } from './node.type';
import { operations } from './versionDescription';

/**
 * Runs the chosen operation's module. The operation names it alone: operation values are unique
 * across resources, and every parameter shows on its operation, so a workflow file that leaves the
 * resource out (n8n does not store a default) still gets the operation it names.
 */
export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return await runOperation.call(this, operations);
}

/** Runs the operation the node's `operation` parameter names, from the given version's modules. */
export async function runOperation(
	this: IExecuteFunctions,
	modules: Record<string, OperationModule>,
): Promise<INodeExecutionData[][]> {
	const operation = this.getNodeParameter('operation', 0) as string;
	const module = modules[operation];
	if (!module) {
		throw new NodeOperationError(
			this.getNode(),
			`The operation "${operation}" is not supported by this version of the node`,
		);
	}
	const credentials = await recentCredentials<ProcessorCredentials>(this, CREDENTIAL);
	return await module.execute.call(this, { credentials, call: processorCall(this, credentials) });
}
