import { readFileSync } from 'fs';
import { join } from 'path';
import { outcomeOf } from '../../nodes/LeadIntake/outcome';
import { contentKey, signLead } from '../../nodes/LeadIntake/signature';

interface Vector {
	name: string;
	secret: string;
	timestamp: string;
	body: string;
	signature: string;
}

const {
	v1: { vectors },
} = JSON.parse(
	readFileSync(join(__dirname, '..', 'contracts', 'signature-vectors.json'), 'utf8'),
) as {
	v1: { vectors: Vector[] };
};

test.each(vectors.map((vector) => [vector.name, vector] as const))(
	'signs %s exactly like the processor verifies',
	(_name, vector) => {
		expect(signLead(vector.secret, vector.timestamp, vector.body)).toBe(vector.signature);
	},
);

test('a lead without a key gets a key from its content: same lead, same key', () => {
	const lead = '{"email":"a@example.com"}';
	expect(contentKey(lead)).toBe(contentKey(lead));
	expect(contentKey(lead)).not.toBe(contentKey('{"email":"b@example.com"}'));
	expect(contentKey(lead)).toMatch(/^sha256-[0-9a-f]{64}$/);
});

test.each([
	[200, { status: 'accepted' }, 'accepted'],
	[200, { status: 'duplicate' }, 'duplicate'],
	[200, { status: 'rejected', reasons: ['ZIP_NOT_66XXX'] }, 'rejected'],
	[200, { status: 'something new' }, 'failed'],
	[400, { code: 'invalid_json' }, 'rejected'],
	[413, { code: 'payload_too_large' }, 'rejected'],
	[422, { code: 'idempotency_key_reused' }, 'rejected'],
	[401, { code: 'signature_invalid' }, 'failed'],
	[409, { code: 'timestamp_out_of_window' }, 'failed'],
	[429, { code: 'rate_limited' }, 'failed'],
	[500, { status: 'failed', dlq_id: 3 }, 'failed'],
	[503, { code: 'database_unavailable' }, 'failed'],
	[0, { code: 'processor_unreachable' }, 'failed'],
] as const)('HTTP %i %j goes to the %s output', (statusCode, answer, expected) => {
	expect(outcomeOf(statusCode, answer)).toBe(expected);
});
