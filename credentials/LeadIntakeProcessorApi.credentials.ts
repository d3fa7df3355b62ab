import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class LeadIntakeProcessorApi implements ICredentialType {
	name = 'leadIntakeProcessorApi';

	displayName = 'Lead Intake Processor API';

	icon: Icon = { light: 'file:../icons/leadIntake.svg', dark: 'file:../icons/leadIntake.dark.svg' };

	documentationUrl =
		'https://github.com/lead-intake-hub/lead-intake-hub/blob/main/docs/nodes.md#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://127.0.0.1:8000',
			placeholder: 'http://127.0.0.1:8000',
			description: 'Where the Lead Intake processor answers',
			required: true,
		},
		{
			displayName: 'HMAC Secret',
			name: 'hmacSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'The secret leads are signed with; the processor must hold it in WEBHOOK_HMAC_SECRET. A secret starting with whsec_ is read as base64 key bytes (Standard Webhooks).',
			required: true,
		},
		{
			displayName: 'Next HMAC Secret',
			name: 'nextHmacSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'During a rotation only: leads are signed with both secrets, so the processor accepts them whichever one it holds. Once every processor has the new secret, move it to HMAC Secret and empty this field.',
		},
		{
			displayName: 'Service Token',
			name: 'serviceToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				"SERVICE_TOKEN of the processor, for the operator operations (runs, DLQ, KPI); the credential's test uses it",
			required: true,
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '=Bearer {{$credentials.serviceToken}}',
			},
		},
	};

	// an operator endpoint: proves the URL and the service token at once
	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			url: '/internal/stats/runs',
		},
	};
}
