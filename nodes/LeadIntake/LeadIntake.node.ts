import type { INodeTypeBaseDescription, IVersionedNodeType } from 'n8n-workflow';
import { VersionedNodeType } from 'n8n-workflow';
import { LeadIntakeV1 } from './v1/LeadIntakeV1';
import { LeadIntakeV2 } from './v2/LeadIntakeV2';

/**
 * Lead Intake, n8n's versioned node: each version's class serves the workflow files saved with it.
 * Version 1 (v1/) as it shipped; versions 2, 2.1 and 2.2 (v2/): resources and operations, one
 * module each (v2/actions/), 2.1 answering the lead source itself, 2.2 as soon as the lead is
 * stored (or, by choice, when the CRM has it). docs/nodes.md says how to add an
 * operation or a version.
 */
export class LeadIntake extends VersionedNodeType {
	constructor() {
		const baseDescription: INodeTypeBaseDescription = {
			displayName: 'Lead Intake',
			name: 'leadIntake',
			icon: {
				light: 'file:../../icons/leadIntake.svg',
				dark: 'file:../../icons/leadIntake.dark.svg',
			},
			group: ['transform'],
			description:
				'Sign leads and submit them to the Lead Intake processor; look runs up, work the DLQ, compute KPIs',
			defaultVersion: 2.2,
		};
		const nodeVersions: IVersionedNodeType['nodeVersions'] = {
			1: new LeadIntakeV1(baseDescription),
			2: new LeadIntakeV2(baseDescription),
			2.1: new LeadIntakeV2(baseDescription),
			2.2: new LeadIntakeV2(baseDescription),
		};
		super(nodeVersions, baseDescription);
	}
}
