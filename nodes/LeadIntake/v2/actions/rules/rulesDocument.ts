import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

/* The rules document parameter that Dry Run and Save share. */

export const documentParameter: INodeProperties = {
	displayName: 'Rules Document',
	name: 'document',
	type: 'json',
	default: '{}',
	required: true,
	description:
		'The whole rules document (rules, mapping and duplicates), as Get Current returns it under "document", with your changes',
};

/** The document parameter as an object (n8n gives a JSON parameter as text or as a value). */
export function documentOf(this: IExecuteFunctions, itemIndex: number): unknown {
	const value = this.getNodeParameter('document', itemIndex) as unknown;
	if (typeof value !== 'string') return value;
	try {
		return JSON.parse(value) as unknown;
	} catch {
		throw new NodeOperationError(this.getNode(), 'Rules Document is not valid JSON', {
			itemIndex,
		});
	}
}
