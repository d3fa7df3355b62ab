import { jest } from '@jest/globals';
import { createLogger } from '../../src/logger.js';
import { startRetention, type RetentionDeps } from '../../src/privacy/retention.js';

const DAY_MS = 86_400_000;
const deps = {
	logger: createLogger('silent', { write: () => undefined }),
} as unknown as RetentionDeps;
const nothing = {
	raw_leads_purged: 0,
	runs_anonymised: 0,
	alert_files_deleted: 0,
	refused_requests_cleared: 0,
	more: false,
};

afterEach(() => jest.useRealTimers());

test('the first pass runs a minute after start, not a whole interval later: a processor restarted daily still runs it', async () => {
	jest.useFakeTimers();
	const pass = jest.fn(async () => nothing);
	const retention = startRetention(deps, DAY_MS, pass);
	await jest.advanceTimersByTimeAsync(59_000);
	expect(pass).toHaveBeenCalledTimes(0);
	await jest.advanceTimersByTimeAsync(1_000);
	expect(pass).toHaveBeenCalledTimes(1);
	await jest.advanceTimersByTimeAsync(DAY_MS - 1_000);
	expect(pass).toHaveBeenCalledTimes(1);
	await jest.advanceTimersByTimeAsync(1_000);
	expect(pass).toHaveBeenCalledTimes(2);
	await retention.stop();
	await jest.advanceTimersByTimeAsync(2 * DAY_MS);
	expect(pass).toHaveBeenCalledTimes(2);
});

test('an interval shorter than a minute starts after that interval; 0 never runs', async () => {
	jest.useFakeTimers();
	const pass = jest.fn(async () => nothing);
	const often = startRetention(deps, 10_000, pass);
	const never = startRetention(deps, 0, pass);
	await jest.advanceTimersByTimeAsync(10_000);
	expect(pass).toHaveBeenCalledTimes(1);
	await often.stop();
	await never.stop();
});
