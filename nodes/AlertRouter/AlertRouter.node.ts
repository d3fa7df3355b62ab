import type { INodeTypeBaseDescription, IVersionedNodeType } from 'n8n-workflow';
import { VersionedNodeType } from 'n8n-workflow';
import { AlertRouterV1 } from './v1/AlertRouterV1';
import { AlertRouterV2 } from './v2/AlertRouterV2';
import { AlertRouterV3 } from './v3/AlertRouterV3';

/**
 * Alert Router, n8n's versioned node. Every version builds and masks alerts the same way
 * (alert.ts, deliver.ts); version 1 (v1/) reads the alert from expression parameters as it
 * shipped, version 2 (v2/) from the Lead Intake result in code and writes files from n8n, version 3
 * (v3/, the default) hands the alert to the processor (the one writer of alert files) and/or
 * Jira/Confluence, each target on its own, and reads no environment variable.
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
				'Turn a rejected or failed lead (or a workflow error) into a readable alert: a file written by the processor and/or a Jira/Confluence entry',
			defaultVersion: 3,
		};
		const nodeVersions: IVersionedNodeType['nodeVersions'] = {
			1: new AlertRouterV1(baseDescription),
			2: new AlertRouterV2(baseDescription),
			3: new AlertRouterV3(baseDescription),
		};
		super(nodeVersions, baseDescription);
	}
}
