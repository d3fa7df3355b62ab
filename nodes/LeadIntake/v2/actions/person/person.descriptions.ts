import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { optionalText } from '../../helpers/operator';

/** Who the person is: what they gave when they asked (docs/privacy.md). */
export const personParameters: INodeProperties[] = [
	{
		displayName: 'Email',
		name: 'email',
		type: 'string',
		default: '',
		placeholder: 'name@email.com',
		description: 'The e-mail address the person gave (empty: find them by phone only)',
	},
	{
		displayName: 'Phone',
		name: 'phone',
		type: 'string',
		default: '',
		description:
			'The phone number the person gave, in any format (without a country code it is read in the region the rules name); empty: by e-mail only',
	},
	{
		displayName: 'Requested By',
		name: 'actor',
		type: 'string',
		default: '',
		description: 'Who handles the request (kept with the audit event; empty: "operator")',
	},
];

/** The request body: the person and who asks; at least an e-mail or a phone. */
export function personBody(this: IExecuteFunctions, itemIndex: number): Record<string, string> {
	const body: Record<string, string> = {};
	for (const name of ['email', 'phone', 'actor']) {
		const value = optionalText.call(this, name, itemIndex);
		if (value) body[name] = value;
	}
	if (!body.email && !body.phone) {
		throw new NodeOperationError(this.getNode(), 'Name the person: an email, a phone or both', {
			itemIndex,
		});
	}
	return body;
}
