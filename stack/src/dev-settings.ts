/**
 * The local stack's settings: development values unless the environment sets them.
 * They are printed at start so anyone can sign a request by hand. Never use them in production.
 */
export interface StackSettings {
	WEBHOOK_HMAC_SECRET: string;
	WEBHOOK_MAX_SKEW_SECONDS: string;
	EMAIL_HASH_SALT: string;
	LEAD_ENCRYPTION_KEY: string;
	SERVICE_TOKEN: string;
	CRM_TOKEN: string;
	FAULT_INJECTION: string;
	/**
	 * Signs the processor's outcome events (EVENTS_URL); the n8n Lead Outcome Trigger's credential
	 * holds the same secret. Without EVENTS_URL nothing is sent.
	 */
	EVENTS_SECRET: string;
	/** The key of the development lead source (n8n credential "Lead source: development"). */
	LEAD_SOURCE_API_KEY: string;
	/** n8n encrypts credentials with it; fixed so the local n8n keeps reading its own. */
	N8N_ENCRYPTION_KEY: string;
	N8N_OWNER_EMAIL: string;
	N8N_OWNER_PASSWORD: string;
}

const DEVELOPMENT_VALUES: StackSettings = {
	WEBHOOK_HMAC_SECRET: 'dev-hmac-secret-change-me',
	WEBHOOK_MAX_SKEW_SECONDS: '300',
	EMAIL_HASH_SALT: 'dev-email-salt-change-me',
	LEAD_ENCRYPTION_KEY: 'dev-lead-encryption-key-change-me',
	SERVICE_TOKEN: 'dev-service-token-change-me',
	CRM_TOKEN: 'dev-crm-token-change-me',
	FAULT_INJECTION: 'on',
	EVENTS_SECRET: 'dev-events-secret-change-me',
	LEAD_SOURCE_API_KEY: 'dev-lead-source-key-change-me',
	N8N_ENCRYPTION_KEY: 'dev-n8n-encryption-key-change-me',
	N8N_OWNER_EMAIL: 'operator@example.com',
	N8N_OWNER_PASSWORD: 'LeadIntake-dev-1',
};

export function stackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
	const settings = { ...DEVELOPMENT_VALUES };
	for (const name of Object.keys(settings) as (keyof StackSettings)[]) {
		settings[name] = env[name] || settings[name];
	}
	return settings;
}

/** The first secret signs; the others are still accepted during a rotation. */
export function signingSecret(settings: StackSettings): string {
	return settings.WEBHOOK_HMAC_SECRET.split(',')[0]!.trim();
}
