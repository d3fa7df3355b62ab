import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeBaseDescription,
	INodeTypeDescription,
} from 'n8n-workflow';
import { router } from './actions/router';
import { versionDescription } from './actions/versionDescription';

/**
 * Versions 2, 2.1 and 2.2: resources and operations (actions/), Standard Webhooks signing by
 * default, defaults read from the Lead Source Trigger's item in code; 2.1 answers the lead source
 * itself; 2.2 asks the processor to answer once the lead is stored.
 */
export class LeadIntakeV2 implements INodeType {
	description: INodeTypeDescription;

	constructor(baseDescription: INodeTypeBaseDescription) {
		this.description = { ...baseDescription, ...versionDescription };
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router.call(this);
	}
}
