import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';

/**
 * A node's credentials, read from n8n at most once a second per node and n8n process. Every read
 * is several database queries (access checks, the row, decryption): for one lead that is more work
 * than everything else our nodes do. A changed or revoked credential takes effect within a second.
 * Executions started by hand in the editor always read afresh.
 */
const MAX_AGE_MS = 1000;
const MAX_ENTRIES = 1000;

const recent = new Map<string, { credentials: ICredentialDataDecryptedObject; readAtMs: number }>();

export async function recentCredentials<T extends object>(
	context: IExecuteFunctions | IWebhookFunctions,
	type: string,
): Promise<T> {
	if (context.getMode() === 'manual') return await context.getCredentials<T>(type);
	const node = context.getNode();
	const key = JSON.stringify([
		context.getWorkflow().id,
		node.id,
		type,
		node.credentials?.[type]?.id ?? null,
	]);
	const nowMs = Date.now();
	const hit = recent.get(key);
	if (hit && nowMs - hit.readAtMs < MAX_AGE_MS) return hit.credentials as T;
	const credentials = await context.getCredentials<T>(type);
	if (recent.size >= MAX_ENTRIES) {
		for (const [staleKey, entry] of recent)
			if (nowMs - entry.readAtMs >= MAX_AGE_MS) recent.delete(staleKey);
		if (recent.size >= MAX_ENTRIES) recent.clear();
	}
	recent.set(key, { credentials: credentials as ICredentialDataDecryptedObject, readAtMs: nowMs });
	return credentials;
}
