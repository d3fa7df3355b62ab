import { startMockCrm, startMockJiraConfluence } from './index.js';

/**
 * `node mocks/dist/main.js crm|jira-confluence`: one mock per process (compose, local stack).
 * Environment: PORT, HOST, CRM_TOKEN (crm).
 */
const which = process.argv[2];
const host = process.env.HOST ?? '127.0.0.1';

async function start() {
	if (which === 'crm') {
		const token = process.env.CRM_TOKEN;
		if (!token) throw new Error('CRM_TOKEN is required');
		return startMockCrm({ port: Number(process.env.PORT ?? 9001), host, token });
	}
	if (which === 'jira-confluence') {
		return startMockJiraConfluence({ port: Number(process.env.PORT ?? 9002), host });
	}
	throw new Error('usage: main.js crm|jira-confluence');
}

start().then(
	(server) => {
		console.log(`mock ${which} listening on ${server.url}`);
		const stop = () => void server.close().then(() => process.exit(0));
		process.on('SIGINT', stop);
		process.on('SIGTERM', stop);
	},
	(error: Error) => {
		console.error(`mock ${which} failed to start: ${error.message}`);
		process.exit(1);
	},
);
