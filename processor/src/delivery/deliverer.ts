import { setTimeout as delay } from 'node:timers/promises';
import { claimQueued, requeueClaimed, type QueuedRun } from '../db/runs.js';
import { batchWorstCaseMs, mapConcurrently } from '../concurrency.js';
import { deliverAccepted, type IntakeDeps } from '../intake/intake-service.js';
import { parseLeadBody } from '../intake/lead-body.js';
import { prepareLead } from '../intake/prepare-lead.js';
import type { Logger } from '../logger.js';
import { startLoop, type Loop } from './loop.js';

export interface DelivererOptions {
	/** Names this process in the runs it claims (lease_owner). */
	owner: string;
	/** Runs claimed at once, and delivered at once. */
	batch: number;
	concurrency: number;
	/** The CRM's timeout: a claim's lease lasts as long as its whole batch can take. */
	crmTimeoutMs: number;
	/** How often the queue is looked at when nothing woke the deliverer (another processor's leads). */
	pollMs: number;
	/**
	 * After a pass that emptied the queue, the next one waits this long before it claims: at a
	 * trickle of leads each would otherwise cost a claim and a processed write of its own.
	 */
	lingerMs: number;
	logger: Logger;
}

/**
 * Background delivery of leads answered on store: claims `queued` runs (leased: queued ->
 * accepted, lease_owner, lease_until = ACCEPTED_LEASE_SECONDS on, or longer when the batch
 * delivered `concurrency` at a time can take longer), and delivers each with the
 * synchronous intake's own code (deliverAccepted): the same CRM client behind the circuit
 * breaker, keyed upsert, attempt and ledger records, a DLQ item on failure with the retry
 * schedule and Retry-After. A processor killed mid-delivery leaves its runs `accepted`; past
 * their lease the recovery hands them to the DLQ and the retry loop re-delivers them (the CRM
 * upserts by key: still one record). While CRM calls are paused nothing is claimed: queued leads
 * wait in the queue rather than filling the DLQ; half-open, one lead goes first as the probe.
 */
export function startDeliverer(deps: IntakeDeps, options: DelivererOptions): Loop {
	let linger = true;
	// a stop lets the calls under way finish, and hands the rest of the batch back to the queue
	// at once: a deploy's grace period is not spent on them, nor are they recovered later as
	// interrupted (a false lead.failed) after a kill
	let stopping = false;
	const loop = startLoop(
		async () => {
			if (linger && options.lingerMs > 0) await delay(options.lingerMs);
			if (stopping) return false;
			const circuit = deps.crm.status();
			if (circuit.state === 'open') return false;
			const limit = circuit.state === 'half-open' ? 1 : options.batch;
			const now = deps.now();
			const leaseMs = Math.max(
				deps.acceptedLeaseSeconds * 1000,
				// a processed write waits at most its deadline to join a group commit, then runs, and once
				// more alone if its group failed
				batchWorstCaseMs(limit, options.concurrency, options.crmTimeoutMs, 3 * deps.deadlineMs),
			);
			const leaseUntil = new Date(now.getTime() + leaseMs);
			const runs = await claimQueued(deps.sql, {
				owner: options.owner,
				now,
				leaseUntil,
				limit,
				deadlineMs: deps.deadlineMs,
			});
			let handedBack = false;
			const handBack = async (run: QueuedRun) => {
				handedBack = true;
				await requeueClaimed(deps.sql, run.run_id, options.owner, deps.deadlineMs);
			};
			// a call must end (and its write) within the claim: past it, the recovery may have handed
			// the run to the DLQ, and an erasure waits only for the claim (as DLQ retries do)
			const callFits = () =>
				deps.now().getTime() + options.crmTimeoutMs + 3 * deps.deadlineMs <= leaseUntil.getTime();
			await mapConcurrently(runs, options.concurrency, (run) =>
				stopping || !callFits() ? handBack(run) : deliver(deps, options, run, () => handBack(run)),
			);
			// a full batch: there may be more waiting, so no lingering before the next claim; but
			// a lead handed back (calls paused) waits for the next poll, not for a claim at once
			linger = runs.length < limit;
			return !linger && !handedBack;
		},
		{ pollMs: options.pollMs, logger: options.logger, name: 'deliverer' },
	);
	return {
		wake: () => loop.wake(),
		stop: () => {
			stopping = true;
			return loop.stop();
		},
	};
}

async function deliver(
	deps: IntakeDeps,
	options: DelivererOptions,
	run: QueuedRun,
	handBack: () => Promise<void>,
) {
	const log = options.logger.child({ run_id: run.run_id });
	const context = {
		idempotencyKey: run.idempotency_key,
		source: run.source,
		correlationId: run.correlation_id ?? run.run_id,
		headers: {},
		log,
	};
	const ruleset = deps.rules.current();
	let lead;
	try {
		lead = prepareLead(parseLeadBody(deps.cipher.decrypt(run.sealed_lead!), deps.leadLimits), {
			rules: ruleset.rules,
			emailHashSalt: deps.emailHashSalt,
		});
	} catch (error) {
		// cannot happen for a lead the intake stored; left to its lease, the recovery and the DLQ
		// (which marks it dead as unreadable: a person must look at it)
		log.error({ err: error }, 'a queued lead cannot be read back; the recovery takes it');
		return;
	}
	try {
		await deliverAccepted(
			deps,
			context,
			run.run_id,
			lead,
			ruleset.mapping,
			run.first_idempotency_key ?? run.idempotency_key,
			// calls paused meanwhile (the circuit opened during this batch): the lead was not
			// tried, so it waits in the queue, not in the DLQ as a failure
			handBack,
		);
	} catch (error) {
		log.error({ err: error }, 'background delivery failed to record; the recovery takes it');
	}
}
