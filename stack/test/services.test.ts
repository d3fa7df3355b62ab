import { ServiceError, startService } from '../src/services.js';

/** A service that stops before it is ready: the launcher's message says why, in one sentence. */
function failingService(output: string) {
	return startService({
		name: 'mock-crm',
		command: process.execPath,
		args: ['-e', `console.error(${JSON.stringify(output)}); process.exit(1)`],
		env: { PATH: process.env.PATH },
		readyWhen: () => false,
		onLine: () => undefined,
	});
}

test('a port in use is named, not quoted as the service printed it', async () => {
	const failed = failingService(
		'mock crm failed to start: listen EADDRINUSE: address already in use 127.0.0.1:9001',
	);
	await expect(failed).rejects.toBeInstanceOf(ServiceError);
	await expect(failed).rejects.toMatchObject({
		message: 'mock-crm could not start: port 9001 is already in use',
		portInUse: 9001,
	});
});

test('any other failure quotes the last lines the service printed', async () => {
	await expect(failingService('CRM_TOKEN is required')).rejects.toMatchObject({
		message:
			'mock-crm exited with code 1 before it was ready; its last output:\n  CRM_TOKEN is required',
		portInUse: null,
	});
});
