import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The secret the processor signs its outcome events with (its EVENTS_SECRET), and during a rotation
 * the previous one. The Lead Outcome Trigger verifies every event with them before anything runs.
 */
export class LeadIntakeEventsApi implements ICredentialType {
	name = 'leadIntakeEventsApi';

	displayName = 'Lead Intake Events API';

	icon: Icon = {
		light: 'file:../icons/leadOutcomeTrigger.svg',
		dark: 'file:../icons/leadOutcomeTrigger.dark.svg',
	};

	documentationUrl =
		'https://github.com/lead-intake-hub/lead-intake-hub/blob/main/docs/nodes.md#lead-outcome-trigger';

	properties: INodeProperties[] = [
		{
			displayName: 'Events Secret',
			name: 'secret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description:
				'The processor\'s EVENTS_SECRET: a "whsec_<base64>" key or any text of at least 16 bytes. Generate one with "openssl rand -base64 32".',
		},
		{
			displayName: 'Previous Events Secret',
			name: 'previousSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				"During a rotation only: the old secret (the processor's EVENTS_SECRET_PREVIOUS), still accepted. Empty it once the processor signs with the new one only.",
		},
	];
}
