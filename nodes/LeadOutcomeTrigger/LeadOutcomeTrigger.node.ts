import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IDataObject,
	INodeCredentialTestResult,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { localWebhookMethods } from '../common/local-webhook';
import { fromParameter, NodeConnectionTypes, webhookDescriptionFields } from 'n8n-workflow';
import { recentCredentials } from '../common/recent-credentials';
import { OUTCOME_EVENTS, OUTCOME_EVENT_TYPES, type OutcomeEventType } from './events';
import {
	eventsCredentialProblem,
	MAX_EVENT_BYTES,
	secretsOf,
	verifyEvent,
	type EventsCredentials,
} from './verify';

const CREDENTIAL = 'leadIntakeEventsApi';
export const DEFAULT_TOLERANCE_SECONDS = 300;
const MAX_TOLERANCE_SECONDS = 3600;

/**
 * What became of each lead, as the processor reports it (docs/contract.md, "Outcome events"): a
 * webhook that verifies the Standard Webhooks signature before anything runs, so an unsigned, old
 * or forged event starts no execution, and puts each event on the output of its type.
 */
export class LeadOutcomeTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Lead Outcome Trigger',
		name: 'leadOutcomeTrigger',
		icon: {
			light: 'file:../../icons/leadOutcomeTrigger.svg',
			dark: 'file:../../icons/leadOutcomeTrigger.dark.svg',
		},
		group: ['trigger'],
		// 1.1: n8n evaluates no expression for an event (for a version 1 webhook node it evaluates
		// an `options.binaryData` expression per request: a V8 isolate per event) and parses only
		// bodies of the JSON, text, form and XML types before the trigger reads the raw body
		version: [1, 1.1],
		defaultVersion: 1.1,
		subtitle: '={{ "POST /webhook/" + $parameter["path"] }}',
		description:
			'Hear what became of each lead: delivered, failed, dead, resolved or rejected (signed events from the Lead Intake processor)',
		eventTriggerDescription: 'Waiting for an outcome event at the test URL',
		activationMessage: "The processor's outcome events now arrive at the production URL.",
		triggerPanel: {
			header: 'Send an outcome event to the test URL',
			executionsHelp: {
				inactive:
					"While you build the workflow, point the processor's EVENTS_URL at the test URL (Webhook URLs above): its next event appears here. Publish the workflow to receive events at the production URL.",
				active:
					'The processor posts its events to the production URL (its EVENTS_URL); every event is an execution in the Executions list.',
			},
			activationHint:
				"Once published, the processor's events arrive at the production URL and run the workflow.",
		},
		defaults: { name: 'Lead Outcome Trigger' },
		inputs: [],
		outputs: OUTCOME_EVENTS.map(({ displayName }) => ({
			type: NodeConnectionTypes.Main,
			displayName,
		})),
		credentials: [
			{ name: 'leadIntakeEventsApi', required: true, testedBy: 'leadIntakeEventsApiTest' },
		],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				// resolved by n8n without its expression engine
				...webhookDescriptionFields({
					path: fromParameter('path'),
					responseMode: fromParameter('responseMode'),
				}),
				// the answer is the acknowledgement, nothing more: n8n's default (the last node's first
				// item) is a 500 when a branch ends without one, and the processor would send it forever
				responseData: 'noData',
				isFullPath: true,
			},
		],
		properties: [
			{
				displayName: 'Path',
				name: 'path',
				type: 'string',
				default: 'lead-outcomes',
				required: true,
				placeholder: 'lead-outcomes',
				description:
					"The processor posts its events to the production URL below (…/webhook/ followed by this path): set it as the processor's EVENTS_URL",
			},
			{
				displayName: 'Events',
				name: 'events',
				type: 'multiOptions',
				options: OUTCOME_EVENTS.map(({ type, displayName, description }) => ({
					name: `${displayName} (${type})`,
					value: type,
					description,
				})),
				default: [...OUTCOME_EVENT_TYPES],
				description:
					"The events that start an execution, each on its own output. Others are acknowledged and dropped, so the processor does not send them again. Set the processor's EVENTS_TYPES to the same types, so it does not send the others at all.",
			},
			{
				displayName: 'Acknowledge',
				name: 'responseMode',
				type: 'options',
				options: [
					{
						name: 'When the Workflow Has Run',
						value: 'lastNode',
						description:
							'The processor sends the event again (same webhook-ID) if the workflow fails: an alert is not lost',
					},
					{
						name: 'When Received',
						value: 'onReceived',
						description:
							'At once: the processor is done with the event even if the workflow then fails',
					},
				],
				default: 'lastNode',
				description: 'When the processor is told the event arrived',
			},
			{
				displayName: 'Timestamp Tolerance (Seconds)',
				name: 'toleranceSeconds',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_TOLERANCE_SECONDS },
				default: DEFAULT_TOLERANCE_SECONDS,
				description:
					"How far an event's webhook-timestamp may be from this server's clock; older events are refused, so a recorded one cannot be replayed later",
			},
		],
	};

	webhookMethods = localWebhookMethods;

	methods = {
		credentialTest: {
			async leadIntakeEventsApiTest(
				this: ICredentialTestFunctions,
				credential: ICredentialsDecrypted,
			): Promise<INodeCredentialTestResult> {
				const problem = eventsCredentialProblem(
					(credential.data ?? {}) as Partial<EventsCredentials>,
				);
				return problem
					? { status: 'Error', message: problem }
					: { status: 'OK', message: 'The events secrets are usable' };
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const answer = (status: number, body: IDataObject): IWebhookResponseData => {
			const response = this.getResponseObject();
			response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
			response.end(JSON.stringify(body));
			return { noWebhookResponse: true };
		};

		let credentials: EventsCredentials;
		try {
			credentials = await recentCredentials<EventsCredentials>(this, CREDENTIAL);
		} catch (error) {
			this.logger.error('Lead Outcome Trigger: the Lead Intake Events credential cannot be read', {
				node: this.getNode().name,
				error: (error as Error).message,
			});
			return answer(503, { code: 'events_not_configured', detail: 'This receiver is not set up' });
		}
		const problem = eventsCredentialProblem(credentials);
		if (problem) {
			this.logger.error(`Lead Outcome Trigger: ${problem}`, { node: this.getNode().name });
			return answer(503, { code: 'events_not_configured', detail: 'This receiver is not set up' });
		}

		const request = this.getRequestObject();
		const declaredLength = Number(request.headers['content-length'] ?? 0);
		if (declaredLength > MAX_EVENT_BYTES) {
			return answer(413, {
				code: 'event_too_large',
				detail: `An event is at most ${MAX_EVENT_BYTES} bytes`,
			});
		}
		try {
			if (!request.rawBody) await request.readRawBody?.();
		} catch {
			// n8n took the body as a form, or could not decode it: refused here, not failed later
			return answer(400, {
				code: 'event_unreadable',
				detail: 'The body could not be read: send the event as JSON',
			});
		}
		const rawBody = request.rawBody ?? Buffer.alloc(0);
		const header = (name: string) => {
			const value = request.headers[name];
			return typeof value === 'string' ? value : undefined;
		};
		const tolerance = toleranceOf(
			this.getNodeParameter('toleranceSeconds', DEFAULT_TOLERANCE_SECONDS),
		);
		const refusal = verifyEvent(
			{
				id: header('webhook-id'),
				timestamp: header('webhook-timestamp'),
				signature: header('webhook-signature'),
			},
			rawBody,
			secretsOf(credentials),
			tolerance,
			Math.floor(Date.now() / 1000),
		);
		if (refusal) return answer(refusal.status, { code: refusal.code, detail: refusal.detail });

		const event = parseEvent(rawBody);
		if (!event) {
			return answer(400, {
				code: 'event_invalid',
				detail: 'The body is not an outcome event: {"type", "timestamp", "data": {…}}',
			});
		}
		const picked = this.getNodeParameter('events', [...OUTCOME_EVENT_TYPES]) as string[];
		if (!isOutcomeEventType(event.type) || !picked.includes(event.type)) {
			// acknowledged, so the processor does not send it again; nothing runs. A type this
			// package does not know yet comes from a newer processor: refusing it would be for ever
			return answer(200, { status: 'ignored', type: event.type });
		}

		const outputs: INodeExecutionData[][] = OUTCOME_EVENTS.map(() => []);
		outputs[OUTCOME_EVENT_TYPES.indexOf(event.type)]!.push({
			json: itemOf({ ...event, type: event.type }, header('webhook-id')!),
		});
		return { workflowData: outputs };
	}
}

/**
 * The event as an item shaped like a Lead Intake result (run_id, outcome, statusCode, response), so
 * the Alert Router reads it as it reads a submitted lead's result.
 */
function itemOf(event: OutcomeEvent, eventId: string): IDataObject {
	const statusCode = Number(event.data.status_code);
	return {
		// the same across the processor's retries: a receiver can drop repeats by it
		event_id: eventId,
		type: event.type,
		outcome: event.type.slice('lead.'.length),
		run_id: (event.data.run_id as IDataObject[string]) ?? null,
		source: (event.data.source as IDataObject[string]) ?? null,
		statusCode: Number.isInteger(statusCode) ? statusCode : 0,
		timestamp: event.timestamp,
		response: event.data,
		received_at: new Date().toISOString(),
	};
}

interface OutcomeEvent {
	type: OutcomeEventType;
	timestamp: string;
	data: IDataObject;
}

function isOutcomeEventType(type: string): type is OutcomeEventType {
	return (OUTCOME_EVENT_TYPES as readonly string[]).includes(type);
}

/** The event, when the body is one: a type, a timestamp and a data object. */
function parseEvent(rawBody: Buffer): (Omit<OutcomeEvent, 'type'> & { type: string }) | null {
	let parsed: unknown;
	try {
		parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
	} catch {
		return null;
	}
	if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
	const { type, timestamp, data } = parsed as Record<string, unknown>;
	if (typeof type !== 'string' || type.length > 100) return null;
	if (typeof timestamp !== 'string') return null;
	if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
	return { type, timestamp, data: data as IDataObject };
}

/**
 * The tolerance as a number of seconds within the field's bounds. An expression that yields no
 * number falls back to the default: compared with NaN, every timestamp would pass and recorded
 * events could be replayed for ever.
 */
function toleranceOf(value: unknown): number {
	const seconds = Number(value);
	if (!Number.isFinite(seconds) || seconds < 1) return DEFAULT_TOLERANCE_SECONDS;
	return Math.min(seconds, MAX_TOLERANCE_SECONDS);
}
