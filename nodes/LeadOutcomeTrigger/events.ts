/**
 * The outcome events the processor sends (docs/contract.md, "Outcome events"), one output of the
 * Lead Outcome Trigger each, in this order (its outputs are numbered by it: append, never
 * reorder). The processor declares the same types in its vocabulary; the trigger's test holds the
 * two lists equal.
 */
export const OUTCOME_EVENTS = [
	{
		type: 'lead.delivered',
		displayName: 'Delivered',
		description: 'The CRM has the lead (first delivery or a retry)',
	},
	{
		type: 'lead.failed',
		displayName: 'Failed',
		description: 'Delivery failed; the lead waits in the DLQ for its next retry',
	},
	{
		type: 'lead.dead',
		displayName: 'Dead',
		description: 'Retries are used up (or the CRM refused the lead): it needs a person',
	},
	{
		type: 'lead.resolved',
		displayName: 'Resolved',
		description:
			"A DLQ item was closed: delivered by a retry or a replay, resolved by hand, its person's data erased, or not sent again because newer details of the same person reached the CRM first",
	},
	{
		type: 'lead.rejected',
		displayName: 'Rejected',
		description: 'The lead broke an intake rule; nothing was sent to the CRM',
	},
] as const;

export type OutcomeEventType = (typeof OUTCOME_EVENTS)[number]['type'];

export const OUTCOME_EVENT_TYPES: readonly OutcomeEventType[] = OUTCOME_EVENTS.map(
	({ type }) => type,
);
