import { sampleLead, type LeadSource } from '../lead-source.js';

export interface LoadResult {
	/** The answer time of each accepted lead, in ms. */
	latencies: number[];
	/** Leads answered anything but accepted. */
	errors: number;
	seconds: number;
}

/**
 * Closed-loop load, as the benchmarks send it: `concurrency` clients each post a new sample lead
 * (key from `next`) as soon as their last one was answered, for `seconds`. Only an accepted lead
 * counts (200 when the CRM has it, 202 once stored): a quick refusal is not throughput.
 */
export async function load(
	target: LeadSource,
	concurrency: number,
	seconds: number,
	next: () => string,
): Promise<LoadResult> {
	const latencies: number[] = [];
	let errors = 0;
	const started = performance.now();
	const deadline = started + seconds * 1000;
	const client = async () => {
		while (performance.now() < deadline) {
			const sent = performance.now();
			const answer = await target.post(sampleLead(next()));
			if ((answer.status === 200 || answer.status === 202) && answer.body.status === 'accepted')
				latencies.push(performance.now() - sent);
			else errors++;
		}
	};
	await Promise.all(Array.from({ length: concurrency }, client));
	return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}
