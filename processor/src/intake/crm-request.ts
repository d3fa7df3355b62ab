import type { JsonObject } from '../json.js';
import { mapLead, type MappingConfig } from './mapping.js';

export interface CrmRequest {
	body: Record<string, unknown>;
	droppedAttributes: string[];
}

/**
 * The CRM upsert body: the mapped lead plus `key` (the idempotency key: the CRM upserts by it,
 * so a retry never creates a second lead) and our `run_id`.
 */
export function toCrmRequest(
	lead: JsonObject,
	mapping: MappingConfig,
	runId: string,
	key: string,
): CrmRequest {
	const mapped = mapLead(lead, mapping);
	return {
		// the key last: nothing mapped can replace what the CRM upserts by (mapping.ts refuses it too)
		body: { ...mapped.fields, key, run_id: runId, attributes: mapped.attributes },
		droppedAttributes: mapped.droppedAttributes,
	};
}
