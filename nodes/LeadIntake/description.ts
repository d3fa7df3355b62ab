import type { INodeOutputConfiguration, INodeProperties } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { OUTCOME_OUTPUTS } from './outcome';

/** Every operation, across both versions (the values are unique, so outputs can key on them). */
export type Operation =
	| 'submitLead'
	| 'getRun'
	| 'listDlq'
	| 'retryDlqItem'
	| 'resolveDlqItem'
	| 'replayDlq'
	| 'retryDue'
	| 'computeKpi';

const main = (displayName: string): INodeOutputConfiguration => ({
	type: NodeConnectionTypes.Main,
	displayName,
});

export const OUTPUTS: Record<Operation, INodeOutputConfiguration[]> = {
	submitLead: OUTCOME_OUTPUTS,
	getRun: [main('Run')],
	listDlq: [main('DLQ Items')],
	retryDlqItem: [main('Result')],
	resolveDlqItem: [main('Resolved Item')],
	replayDlq: [main('Summary'), main('Dead Items')],
	retryDue: [main('Summary'), main('Dead Items')],
	computeKpi: [main('KPI')],
};

/** The outputs follow the operation (the editor evaluates this; the values come from OUTPUTS). */
export const outputsExpression =
	`={{ (${JSON.stringify(OUTPUTS)})[$parameter["operation"] ?? "submitLead"] }}` as const;

const ACTIONS: Record<Operation, string> = {
	submitLead: 'Submit lead',
	getRun: 'Get run',
	listDlq: 'Get many DLQ items',
	retryDlqItem: 'Retry DLQ item',
	resolveDlqItem: 'Resolve DLQ item',
	replayDlq: 'Replay DLQ items',
	retryDue: 'Retry due DLQ items',
	computeKpi: 'Compute daily KPI',
};

export const subtitleExpression = `={{ (${JSON.stringify(ACTIONS)})[$parameter["operation"] ?? "submitLead"] }}`;

const V1 = { '@version': [1] };
const V2 = { '@version': [{ _cnd: { gte: 2 } }] };
const V2_1 = { '@version': [{ _cnd: { gte: 2.1 } }] };

/** Version 1 as it shipped: old workflow files keep their parameters and behaviour. */
const version1: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: V1 },
		options: [
			{
				name: 'Submit Lead',
				value: 'submitLead',
				description: 'Sign the lead and send it to the processor; one output per outcome',
				action: 'Submit a lead',
			},
			{
				name: 'Retry Due DLQ Items',
				value: 'retryDue',
				description: 'Re-deliver the DLQ items whose retry time has come',
				action: 'Retry due DLQ items',
			},
			{
				name: 'Compute Daily KPI',
				value: 'computeKpi',
				description: "Recompute a day's KPIs and write its stakeholder report",
				action: 'Compute daily KPI',
			},
		],
		default: 'submitLead',
	},
	{
		displayName: 'Lead',
		name: 'lead',
		type: 'json',
		default: '',
		description:
			"The lead to submit, signed and sent exactly as serialized here. Empty: the incoming item's webhook body (or the whole item).",
		displayOptions: { show: { ...V1, operation: ['submitLead'] } },
	},
	{
		displayName: 'Idempotency Key',
		name: 'idempotencyKey',
		type: 'string',
		default: '={{ $json.headers?.["x-idempotency-key"] ?? $json.body?.idempotency_key ?? "" }}',
		description:
			"The key that makes a resend a duplicate. Defaults to the source's key; when empty, a hash of the lead is used, so the same lead is never processed twice.",
		displayOptions: { show: { ...V1, operation: ['submitLead'] } },
	},
	{
		displayName: 'Source',
		name: 'source',
		type: 'string',
		default: '',
		description:
			"Where the lead came from (X-Source); rate limits apply per source. Empty: the request's X-Source header, else n8n.",
		displayOptions: { show: { ...V1, operation: ['submitLead'] } },
	},
	{
		displayName: 'Correlation ID',
		name: 'correlationId',
		type: 'string',
		default: '',
		description:
			"Ties the processor's log lines and audit events to this execution (X-Correlation-ID). Empty: the request's X-Correlation-ID header, else one made from the execution ID.",
		displayOptions: { show: { ...V1, operation: ['submitLead'] } },
	},
];

const dlqStatuses = [
	{ name: 'Dead', value: 'dead', description: 'Gave up after all retries, or refused by the CRM' },
	{ name: 'Open', value: 'open', description: 'Waiting for its next automatic retry' },
	{ name: 'Resolved', value: 'resolved', description: 'Delivered on a retry, or closed by hand' },
	{ name: 'Retrying', value: 'retrying', description: 'Being re-delivered right now' },
];

const version2: INodeProperties[] = [
	{
		displayName: 'Resource',
		name: 'resource',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: V2 },
		options: [
			{ name: 'DLQ Item', value: 'dlqItem', description: 'Leads whose delivery failed' },
			{ name: 'KPI', value: 'kpi', description: 'Daily figures and the stakeholder report' },
			{ name: 'Lead', value: 'lead', description: 'Send a lead to the processor' },
			{
				name: 'Run',
				value: 'run',
				description: "One lead's record: status, audit trail, attempts",
			},
		],
		default: 'lead',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { ...V2, resource: ['lead'] } },
		options: [
			{
				name: 'Submit',
				value: 'submitLead',
				description: 'Sign the lead and send it to the processor; one output per outcome',
				action: 'Submit a lead',
			},
		],
		default: 'submitLead',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { ...V2, resource: ['run'] } },
		options: [
			{
				name: 'Get',
				value: 'getRun',
				description: "Look a lead's run up by its run ID or its idempotency key",
				action: 'Get a run',
			},
		],
		default: 'getRun',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { ...V2, resource: ['dlqItem'] } },
		options: [
			{
				name: 'Get Many',
				value: 'listDlq',
				description: 'List DLQ items, newest first, by status and reason',
				action: 'Get many DLQ items',
			},
			{
				name: 'Replay',
				value: 'replayDlq',
				description:
					'Retry every DLQ item that matches a filter now (count them first with Dry Run)',
				action: 'Replay DLQ items',
			},
			{
				name: 'Resolve',
				value: 'resolveDlqItem',
				description: 'Close one DLQ item by hand, with a note saying why',
				action: 'Resolve a DLQ item',
			},
			{
				name: 'Retry',
				value: 'retryDlqItem',
				description: 'Re-deliver one open or dead DLQ item now',
				action: 'Retry a DLQ item',
			},
			{
				name: 'Retry Due',
				value: 'retryDue',
				description:
					'Re-deliver the DLQ items whose retry time has come (what the DLQ retry workflow does every minute)',
				action: 'Retry due DLQ items',
			},
		],
		default: 'listDlq',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { ...V2, resource: ['kpi'] } },
		options: [
			{
				name: 'Compute Daily',
				value: 'computeKpi',
				description: "Recompute a day's KPIs and write its stakeholder report",
				action: 'Compute daily KPI',
			},
		],
		default: 'computeKpi',
	},

	// lead: submit
	{
		displayName: 'Lead',
		name: 'leadInput',
		type: 'options',
		displayOptions: { show: { ...V2, operation: ['submitLead'] } },
		options: [
			{
				name: 'From the Trigger or Webhook Body',
				value: 'trigger',
				description:
					"The incoming item's body (Lead Source Trigger or Webhook node), else the whole item",
			},
			{
				name: 'Custom JSON',
				value: 'custom',
				description: 'A lead written here or by an expression',
			},
		],
		default: 'trigger',
		description: 'Which lead to sign and send',
	},
	{
		displayName: 'Custom Lead',
		name: 'customLead',
		type: 'json',
		default: '{}',
		description: 'The lead as JSON, sent exactly as written here',
		hint: 'Signed byte for byte: the processor sees the same JSON',
		displayOptions: { show: { ...V2, operation: ['submitLead'], leadInput: ['custom'] } },
	},
	{
		displayName: 'Answer the Lead Source',
		name: 'respondToSource',
		type: 'boolean',
		default: true,
		description:
			"Whether to answer the webhook's caller with the processor's answer (its HTTP status and JSON) as soon as the processor has answered, so the workflow needs no Respond to Webhook node",
		hint: "The trigger's Respond must be 'By the Lead Intake Node'. Without a webhook call (a test run by hand) there is no one to answer.",
		displayOptions: { show: { ...V2_1, operation: ['submitLead'] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: { show: { ...V2, operation: ['submitLead'] } },
		options: [
			{
				displayName: 'Correlation ID',
				name: 'correlationId',
				type: 'string',
				default: '',
				description:
					"Ties the processor's log lines and audit events to this execution. Not set: the trigger's correlation ID (the caller's X-Correlation-ID), else one made from the execution ID.",
			},
			{
				displayName: 'Idempotency Key',
				name: 'idempotencyKey',
				type: 'string',
				default: '',
				description:
					"The key that makes a resend a duplicate. Not set: the source's key (its webhook-ID, Idempotency-Key or X-Idempotency-Key header), else a hash of the lead, so the same lead is never processed twice.",
			},
			{
				displayName: 'Signature Scheme',
				name: 'signatureScheme',
				type: 'options',
				options: [
					{
						name: 'Standard Webhooks (V2)',
						value: 'v2',
						description:
							'Headers webhook-ID, webhook-timestamp and webhook-signature: the signature covers the key',
					},
					{
						name: 'Legacy X-Signature (V1)',
						value: 'legacy',
						description: 'Only for processors that do not know v2 yet: X-Timestamp, X-Signature',
					},
				],
				default: 'v2',
				description: 'How the request to the processor is signed',
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: '',
				description:
					"The source name the processor records. Not set: the Lead Source Trigger's source (from its credential), else n8n.",
			},
		],
	},

	// run: get
	{
		displayName: 'Look Up By',
		name: 'lookUpBy',
		type: 'options',
		displayOptions: { show: { ...V2, operation: ['getRun'] } },
		options: [
			{ name: 'Run ID', value: 'runId', description: 'The run_id the processor answered with' },
			{
				name: 'Idempotency Key',
				value: 'idempotencyKey',
				description: "The source's own key for the lead (its webhook-ID or Idempotency-Key header)",
			},
		],
		default: 'runId',
		description: 'What you know about the lead',
	},
	{
		displayName: 'Run ID',
		name: 'runId',
		type: 'string',
		default: '',
		required: true,
		placeholder: '6f1c2a9e-0000-4000-8000-000000000001',
		description: 'The run ID, as in the alert file name or the processor answer',
		displayOptions: { show: { ...V2, operation: ['getRun'], lookUpBy: ['runId'] } },
	},
	{
		displayName: 'Idempotency Key',
		name: 'key',
		type: 'string',
		default: '',
		required: true,
		description: 'The idempotency key the lead was sent with',
		displayOptions: { show: { ...V2, operation: ['getRun'], lookUpBy: ['idempotencyKey'] } },
	},

	// DLQ: get many
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: { show: { ...V2, operation: ['listDlq'] } },
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 500 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { ...V2, operation: ['listDlq'], returnAll: [false] } },
	},
	{
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add filter',
		default: {},
		displayOptions: { show: { ...V2, operation: ['listDlq'] } },
		options: [
			{
				displayName: 'Reason',
				name: 'reason',
				type: 'string',
				default: '',
				placeholder: 'crm_http_503',
				description: 'Only items that failed for this reason',
			},
			{
				displayName: 'Status',
				name: 'status',
				type: 'options',
				options: dlqStatuses,
				default: 'open',
				description: 'Only items in this state',
			},
		],
	},

	// DLQ: retry / resolve one
	{
		displayName: 'DLQ Item ID',
		name: 'dlqId',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 1,
		required: true,
		description: 'The dlq_id, as in the alert or the Get Many output',
		displayOptions: { show: { ...V2, operation: ['retryDlqItem', 'resolveDlqItem'] } },
	},
	{
		displayName: 'Note',
		name: 'note',
		type: 'string',
		typeOptions: { rows: 2 },
		default: '',
		required: true,
		placeholder: 'Entered in the CRM by hand',
		description: 'Why the item is closed without a delivery; kept in the audit trail',
		displayOptions: { show: { ...V2, operation: ['resolveDlqItem'] } },
	},

	// DLQ: replay
	{
		displayName: 'Dry Run',
		name: 'dryRun',
		type: 'boolean',
		default: true,
		description: 'Whether to only count the matching items instead of retrying them',
		hint: 'Run once with Dry Run on to see how many items match, then turn it off to replay them',
		displayOptions: { show: { ...V2, operation: ['replayDlq'] } },
	},
	{
		displayName: 'Limit',
		name: 'replayLimit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 10000 },
		default: 100,
		description: 'Max number of items to replay in this run (oldest first)',
		displayOptions: { show: { ...V2, operation: ['replayDlq'] } },
	},
	{
		displayName: 'Filters',
		name: 'replayFilters',
		type: 'collection',
		placeholder: 'Add filter',
		default: {},
		displayOptions: { show: { ...V2, operation: ['replayDlq'] } },
		options: [
			{
				displayName: 'Failed After',
				name: 'from',
				type: 'dateTime',
				default: '',
				description: 'Only items that failed at or after this time',
			},
			{
				displayName: 'Failed Before',
				name: 'to',
				type: 'dateTime',
				default: '',
				description: 'Only items that failed before this time',
			},
			{
				displayName: 'Reason',
				name: 'reason',
				type: 'string',
				default: '',
				placeholder: 'crm_http_503',
				description: 'Only items that failed for this reason',
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: '',
				placeholder: 'development',
				description: 'Only leads from this lead source',
			},
			{
				displayName: 'Status',
				name: 'status',
				type: 'multiOptions',
				options: dlqStatuses.filter(({ value }) => value === 'open' || value === 'dead'),
				default: ['dead'],
				description:
					'Only items in these states. Without this filter only dead items are replayed; add Open to bring waiting items forward too.',
			},
		],
	},
];

/** Parameters both versions share. */
const shared: INodeProperties[] = [
	{
		displayName: 'Batch Size',
		name: 'batchSize',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 10000 },
		default: 500,
		description: 'How many due items to claim and re-deliver in this run',
		displayOptions: { show: { operation: ['retryDue'] } },
	},
	{
		displayName: 'Date',
		name: 'date',
		type: 'string',
		default: '',
		placeholder: '2026-11-23',
		description: 'The UTC day to compute (YYYY-MM-DD); empty means yesterday',
		displayOptions: { show: { operation: ['computeKpi'] } },
	},
];

export const properties: INodeProperties[] = [...version1, ...version2, ...shared];
