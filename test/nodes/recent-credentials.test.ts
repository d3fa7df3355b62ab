import { signV2 } from '../../nodes/LeadIntake/signature';
import { runWorkflow, type WorkflowSpec } from './support/engine';
import { startHttpStub, type HttpStub } from './support/http-stub';

/*
 * Credentials read at most once a second per node (nodes/common/recent-credentials.ts), seen from
 * n8n's engine: how often Submit asks n8n's credentials helper, and which secret signs the lead.
 */

let processor: HttpStub;
beforeAll(async () => {
	processor = await startHttpStub();
	processor.answer(() => ({ status: 200, body: { status: 'accepted', run_id: 'r' } }));
});
afterAll(async () => {
	await processor.close();
});
beforeEach(() => (processor.requests.length = 0));
afterEach(() => jest.useRealTimers());

/** Only the clock is the test's: n8n's timers keep running. */
function holdClockAt(now: number) {
	jest.useFakeTimers({
		now,
		doNotFake: [
			'nextTick',
			'setImmediate',
			'clearImmediate',
			'setTimeout',
			'clearTimeout',
			'setInterval',
			'clearInterval',
			'queueMicrotask',
			'hrtime',
			'performance',
		],
	});
}

const submit = (id: string, credentialId = 'processor-a'): WorkflowSpec => ({
	id,
	nodes: [
		{
			name: 'Lead Intake',
			type: 'leadIntake',
			typeVersion: 2.1,
			parameters: { resource: 'lead', operation: 'submitLead' },
			credentialIds: { leadIntakeProcessorApi: credentialId },
		},
	],
});

const lead = { body: { zip: '66123' }, idempotency_key: 'k-1' };
const signedWith = (hmacSecret: string) => ({
	items: [lead],
	credentials: {
		leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
	},
});

/** The secret each request the processor got was signed with. */
const secrets = (...candidates: string[]) =>
	processor.requests.map(({ headers, body }) =>
		candidates.find(
			(secret) =>
				signV2([secret], 'k-1', String(headers['webhook-timestamp']), body, 'delivered', 'n8n') ===
				headers['webhook-signature'],
		),
	);

test('a production execution reads a credential at most once a second; a change takes effect within it', async () => {
	holdClockAt(1_000_000);
	const first = await runWorkflow(submit('wf-1'), { mode: 'webhook', ...signedWith('secret-1') });
	expect(first.credentialReads).toEqual(['leadIntakeProcessorApi']);
	jest.setSystemTime(1_000_999);
	const cached = await runWorkflow(submit('wf-1'), { mode: 'webhook', ...signedWith('secret-2') });
	expect(cached.credentialReads).toEqual([]);
	jest.setSystemTime(1_001_000);
	const fresh = await runWorkflow(submit('wf-1'), { mode: 'webhook', ...signedWith('secret-2') });
	expect(fresh.credentialReads).toEqual(['leadIntakeProcessorApi']);
	expect(secrets('secret-1', 'secret-2')).toEqual(['secret-1', 'secret-1', 'secret-2']);
});

test('another credential, another workflow, or a run by hand is never served from the cache', async () => {
	holdClockAt(2_000_000);
	await runWorkflow(submit('wf-2'), { mode: 'webhook', ...signedWith('secret-1') });
	const runs = [
		await runWorkflow(submit('wf-2', 'processor-b'), {
			mode: 'webhook',
			...signedWith('secret-1'),
		}),
		await runWorkflow(submit('wf-3'), { mode: 'webhook', ...signedWith('secret-1') }),
		await runWorkflow(submit('wf-2'), { mode: 'manual', ...signedWith('secret-1') }),
	];
	for (const run of runs) expect(run.credentialReads).toEqual(['leadIntakeProcessorApi']);
});
