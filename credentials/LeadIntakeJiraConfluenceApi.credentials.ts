import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class LeadIntakeJiraConfluenceApi implements ICredentialType {
	name = 'leadIntakeJiraConfluenceApi';

	displayName = 'Lead Intake Jira/Confluence API';

	icon: Icon = {
		light: 'file:../icons/alertRouter.svg',
		dark: 'file:../icons/alertRouter.dark.svg',
	};

	documentationUrl =
		'https://github.com/lead-intake-hub/lead-intake-hub/blob/main/docs/nodes.md#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://127.0.0.1:9002',
			description:
				'The Jira/Confluence endpoint that takes alerts at /alert and log entries at /log',
			required: true,
		},
		{
			displayName: 'API Token',
			name: 'apiToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Sent as a bearer token; the local mock accepts any',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '=Bearer {{$credentials.apiToken}}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			url: '/health',
		},
	};
}
