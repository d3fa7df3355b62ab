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
		'https://github.com/lead-intake-hub/lead-intake-hub?tab=readme-ov-file#credentials';

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
				'The secret leads are signed with (the first of WEBHOOK_HMAC_SECRET on the processor). During a rotation, enter the new secret once the processor accepts both.',
			required: true,
		},
		{
			displayName: 'Service Token',
			name: 'serviceToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'SERVICE_TOKEN of the processor, for DLQ retries and KPI compute',
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
