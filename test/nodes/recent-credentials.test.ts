import { mockDeep } from 'jest-mock-extended';
import type { IExecuteFunctions, Workflow } from 'n8n-workflow';
import { recentCredentials } from '../../nodes/common/recent-credentials';
import { node } from './harness';

function context(mode: 'webhook' | 'manual', credentialId: string, workflowId = 'wf-1') {
	const context = mockDeep<IExecuteFunctions>();
	context.getMode.mockReturnValue(mode);
	context.getWorkflow.mockReturnValue({ id: workflowId } as Workflow);
	context.getNode.mockReturnValue({
		...node('leadIntake', 2.1),
		credentials: { leadIntakeProcessorApi: { id: credentialId, name: 'Processor' } },
	});
	let reads = 0;
	context.getCredentials.mockImplementation(async () => ({ read: ++reads }));
	return context;
}

afterEach(() => jest.useRealTimers());

test('a production execution reads a credential at most once a second', async () => {
	jest.useFakeTimers({ now: 1_000_000 });
	const production = context('webhook', 'cred-a');
	expect(await recentCredentials(production, 'leadIntakeProcessorApi')).toEqual({ read: 1 });
	jest.setSystemTime(1_000_999);
	expect(await recentCredentials(production, 'leadIntakeProcessorApi')).toEqual({ read: 1 });
	jest.setSystemTime(1_001_000);
	expect(await recentCredentials(production, 'leadIntakeProcessorApi')).toEqual({ read: 2 });
	expect(production.getCredentials).toHaveBeenCalledTimes(2);
});

test('another credential, another workflow, or a run by hand is never served from the cache', async () => {
	jest.useFakeTimers({ now: 2_000_000 });
	await recentCredentials(context('webhook', 'cred-b'), 'leadIntakeProcessorApi');
	const otherCredential = context('webhook', 'cred-c');
	const otherWorkflow = context('webhook', 'cred-b', 'wf-2');
	const manual = context('manual', 'cred-b');
	for (const other of [otherCredential, otherWorkflow, manual]) {
		await recentCredentials(other, 'leadIntakeProcessorApi');
		expect(other.getCredentials).toHaveBeenCalledTimes(1);
	}
});
