import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * One lead source (a website form, a partner, a campaign tool): the name the processor records for
 * its leads and the key it must present. The Lead Source Trigger checks the key; nothing of it ever
 * reaches an execution. Its test (LeadSourceTrigger's `leadSourceApiTest`) checks the fields offline.
 */
export class LeadSourceApi implements ICredentialType {
	name = 'leadSourceApi';

	displayName = 'Lead Source API';

	icon: Icon = {
		light: 'file:../icons/leadSourceTrigger.svg',
		dark: 'file:../icons/leadSourceTrigger.dark.svg',
	};

	documentationUrl =
		'https://github.com/lead-intake-hub/lead-intake-hub/blob/main/docs/lead-sources.md';

	properties: INodeProperties[] = [
		{
			displayName: 'Source Name',
			name: 'sourceName',
			type: 'string',
			default: '',
			placeholder: 'website-form',
			required: true,
			description:
				"Recorded as the source of every lead this key brings in (1-64 characters: letters, digits, '.', '_', ':', '-'). The caller cannot choose or change it.",
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description:
				'The key the source sends as "Authorization: Bearer <key>" (or "X-API-Key: <key>"). At least 16 characters; generate one with "openssl rand -base64 32".',
		},
		{
			displayName: 'Previous API Key',
			name: 'previousApiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'During a key rotation only: the old key, still accepted until the source has switched. Empty it to revoke the old key.',
		},
	];
}
