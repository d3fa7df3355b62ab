import { createMockCrm } from './crm.js';
import { createMockJiraConfluence } from './jira-confluence.js';
import { listen, type RunningServer } from './listen.js';

export type { CrmLead } from './crm.js';
export type { RunningServer } from './listen.js';

export function startMockCrm(options: {
	port?: number;
	host?: string;
	token: string;
}): Promise<RunningServer> {
	return listen(createMockCrm(options.token), options.port ?? 0, options.host);
}

export function startMockJiraConfluence(
	options: { port?: number; host?: string } = {},
): Promise<RunningServer> {
	return listen(createMockJiraConfluence(), options.port ?? 0, options.host);
}
