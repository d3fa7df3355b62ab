import { relative } from 'node:path';
import { signingSecret } from './dev-settings.js';
import { startLocalStack, type LocalStack, type StackPorts } from './local-stack.js';
import { redisReachable } from './redis.js';
import { repoRoot } from './repo.js';
import { ServiceError } from './services.js';
import { terminalLine } from './terminal-lines.js';

/**
 * `npm start [-- --no-n8n] [--scale] [--free-ports] [--verbose]`: the whole local stack in the
 * foreground; Ctrl-C (or SIGTERM) stops it in order. Every service runs behind a lifeline, so
 * nothing outlives this process, however it ends (docs/launcher.md).
 */
const withN8n = !process.argv.includes('--no-n8n');
const verbose = process.argv.includes('--verbose');
const scale = process.argv.includes('--scale');
const freePorts = process.argv.includes('--free-ports');
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

function summary(stack: LocalStack): string {
	const { urls, settings } = stack;
	const secret = signingSecret(settings);
	const database = stack.postgresDataDir
		? `embedded Postgres 17 on port ${stack.ports.postgres}, data in ${relative(repoRoot, stack.postgresDataDir)}/`
		: 'DATABASE_URL';
	const n8n = urls.n8n
		? `
n8n (the lead intake workflow and our nodes)${stack.scale ? `, queue mode: main, webhook process, ${stack.scale.workers} workers on ${stack.scale.redisUrl}; ${stack.scale.processors} processor processes` : ''}
  Editor                 ${urls.n8n}   log in as ${settings.N8N_OWNER_EMAIL} / ${settings.N8N_OWNER_PASSWORD}
  Lead webhook           ${urls.n8nWebhook}/webhook/lead-intake

Post a lead as the development lead source does (n8n checks its key, signs the lead and hands it
to the processor; without the key n8n answers 401, with a wrong one 403):

  curl -sS -X POST ${urls.n8nWebhook}/webhook/lead-intake -H 'Content-Type: application/json' \\
    -H "Authorization: Bearer ${settings.LEAD_SOURCE_API_KEY}" \\
    -d '{"email":"jane.doe@example.com","name":"Jane Doe","address":{"zip":"66123","street":"Hauptstrasse 1"},"house":{"is_owner":true}}'

Add a lead source of your own: docs/lead-sources.md.

A zip outside 66xxx is rejected and leaves an alert file in alerts/; after
  curl -sS -X POST ${urls.crm}/admin/faults -H 'Content-Type: application/json' -d '{"fail_next":1}'
the next lead fails, lands in the DLQ and leaves an alert file (and a Jira alert).
Edited a workflow in the editor? \`npm run workflows:export\` writes it back into workflows/.
`
		: '';
	return `
Lead Intake Hub is running.
${n8n}
  Processor              ${urls.processor}        (GET /health)
  Mock CRM               ${urls.crm}        (GET /leads shows what the CRM holds)
  Mock Jira/Confluence   ${urls.jiraConfluence}        (GET /entries shows the alerts it received)
  Alert files            ${relative(repoRoot, stack.alertsDir) || '.'}/
  Database               ${database}

Development settings (set these variables to override):
  WEBHOOK_HMAC_SECRET=${settings.WEBHOOK_HMAC_SECRET}
  LEAD_SOURCE_API_KEY=${settings.LEAD_SOURCE_API_KEY}
  SERVICE_TOKEN=${settings.SERVICE_TOKEN}
  CRM_TOKEN=${settings.CRM_TOKEN}
  FAULT_INJECTION=${settings.FAULT_INJECTION}
  EVENTS_SECRET=${settings.EVENTS_SECRET}

Send a signed lead straight to the processor, as n8n does (Standard Webhooks; paste into a shell):

  BODY='{"email":"jane.doe@example.com","name":"Jane Doe","address":{"zip":"66123","street":"Hauptstrasse 1"},"house":{"is_owner":true}}'
  TS=$(date +%s); KEY=demo-$TS; SRC=development
  SIG=$(node -e 'const c=require("crypto"),[s,src,...m]=process.argv.slice(1),k=c.createHmac("sha256",s).update("lead-intake source:"+src).digest();process.stdout.write(c.createHmac("sha256",k).update(m.join(".")).digest("base64"))' '${secret}' "$SRC" "$KEY" "$TS" "$BODY")
  curl -sS -X POST ${urls.processor}/webhook/lead -H 'Content-Type: application/json' -H "X-Source: $SRC" \\
    -H "webhook-id: $KEY" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" -d "$BODY"

Add -H 'X-Fail-After-Accept: 1' to watch a lead land in the DLQ.
Press Ctrl-C to stop everything.
`;
}

let stack: LocalStack | null = null;
let stopping = false;
const shutdown = async (reason: string, code: number) => {
	if (stopping) return;
	stopping = true;
	console.log(`\n${reason}; stopping ...`);
	// still starting: exiting is enough, every service's lifeline stops it
	if (stack) await stack.stop();
	console.log('Stopped.');
	process.exit(code);
};
process.on('SIGINT', () => void shutdown('Ctrl-C', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

async function main(): Promise<void> {
	if (scale && withN8n && !(await redisReachable(redisUrl))) {
		throw new Error(
			`--scale runs n8n in queue mode on Redis, and no Redis answers at ${redisUrl}: start one, or set REDIS_URL.`,
		);
	}
	console.log(
		`Starting Postgres, the processor and the mocks${withN8n ? ` and n8n${scale ? ' in queue mode' : ''}` : ''} ...`,
	);
	// PORT, when set, still places the processor
	const free: Partial<StackPorts> = freePorts
		? {
				processor: Number(process.env.PORT || 0),
				crm: 0,
				jiraConfluence: 0,
				postgres: 0,
				n8n: 0,
				n8nWebhook: 0,
			}
		: {};
	stack = await startLocalStack({
		n8n: withN8n,
		// successful executions stay visible in the editor (README.md, Tuning)
		n8nTuning: 'development',
		scale: scale ? { redisUrl } : undefined,
		ports: free,
		onLine: (service, line) => {
			const shown = terminalLine(service, line, verbose);
			if (shown !== null) console.log(shown);
		},
		log: (line) => console.log(line),
	});
	console.log(summary(stack));
	void stack.failure.then((reason) => shutdown(reason, 1));
}

main().catch((error: unknown) => {
	// one sentence, never a stack trace: every error here says what happened (and what to do)
	const message = error instanceof Error ? error.message : String(error);
	const hint =
		error instanceof ServiceError && error.portInUse !== null
			? ': stop what holds it, or run `npm start -- --free-ports` to use free ports'
			: '';
	console.error(`\n${message}${hint}`);
	process.exit(1);
});
