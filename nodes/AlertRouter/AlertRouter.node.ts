import type { INodeTypeBaseDescription, IVersionedNodeType } from 'n8n-workflow';
import { VersionedNodeType } from 'n8n-workflow';
import { AlertRouterV1 } from './v1/AlertRouterV1';
import { AlertRouterV2 } from './v2/AlertRouterV2';

/**
 * Alert Router, n8n's versioned node. Both versions build, mask and deliver alerts the same way
 * (deliver.ts); version 1 (v1/) reads the alert from expression parameters as it shipped, version 2
 * (v2/) from the Lead Intake result in code.
 */
export class AlertRouter extends VersionedNodeType {
	constructor() {
		const baseDescription: INodeTypeBaseDescription = {
			displayName: 'Alert Router',
			name: 'alertRouter',
			icon: {
				light: 'file:../../icons/alertRouter.svg',
				dark: 'file:../../icons/alertRouter.dark.svg',
			},
			group: ['output'],
			description:
				'Turn a rejected or failed lead (or a workflow error) into a readable alert: a file and/or a Jira/Confluence entry',
			defaultVersion: 2,
		};
		const nodeVersions: IVersionedNodeType['nodeVersions'] = {
			1: new AlertRouterV1(baseDescription),
			2: new AlertRouterV2(baseDescription),
		};
		super(nodeVersions, baseDescription);
	}
}
