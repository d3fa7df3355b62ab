import { RESOLVED_BY as NODE_RESOLVED_BY } from '../../nodes/AlertRouter/alert';
import { OUTCOME_NAMES } from '../../nodes/LeadIntake/outcome';
import { INTAKE_PATH as NODE_INTAKE_PATH } from '../../nodes/LeadIntake/processor';
import { dlqStatuses } from '../../nodes/LeadIntake/v2/actions/common.descriptions';
import { DLQ_STATUSES, INTAKE_PATH, RESOLVED_BY } from '../../processor/src/vocabulary';

/**
 * The node package has no runtime dependency on the processor (a separate build), so it keeps
 * copies of the processor's words; this test holds each copy to the processor's declaration.
 */
const sorted = (values: Iterable<unknown>) => [...values].map(String).sort();

test("the node's DLQ statuses are the processor's", () => {
	expect(sorted(dlqStatuses.map(({ value }) => value))).toEqual(sorted(DLQ_STATUSES));
});

test("the Alert Router words every way a lead.resolved event's `by` says an item left the queue", () => {
	expect(sorted(NODE_RESOLVED_BY.keys())).toEqual(sorted(RESOLVED_BY));
});

test("the node posts leads to the processor's intake path", () => {
	expect(NODE_INTAKE_PATH).toBe(INTAKE_PATH);
});

test("the node's outcomes are the statuses of the intake's answers", () => {
	// accepted/duplicate/rejected: the 200 answers' `status`; failed: the 500 answer's
	// (docs/contract.md, "HTTP answers"; processor/src/api/answers.ts).
	expect(sorted(OUTCOME_NAMES)).toEqual(sorted(['accepted', 'duplicate', 'rejected', 'failed']));
});
