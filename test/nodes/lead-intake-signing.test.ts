import { readFileSync } from 'fs';
import { join } from 'path';
import { outcomeOf } from '../../nodes/LeadIntake/outcome';
import {
	answerOnStoreKey,
	contentKey,
	signatureHeaders,
	signV1,
	signV2,
} from '../../nodes/LeadIntake/signature';

interface V1Vector {
	name: string;
	secret: string;
	timestamp: string;
	body: string;
	signature: string;
}
interface V2Vector {
	name: string;
	secrets: string[];
	id: string;
	timestamp: string;
	body: string;
	signature: string;
}

const vectors = JSON.parse(
	readFileSync(join(__dirname, '..', 'contracts', 'signature-vectors.json'), 'utf8'),
) as { v1: { vectors: V1Vector[] }; v2: { vectors: V2Vector[]; must_fail: V2Vector[] } };

test.each(vectors.v1.vectors.map((vector) => [vector.name, vector] as const))(
	'legacy: signs %s exactly like the processor verifies',
	(_name, vector) => {
		expect(signV1(vector.secret, vector.timestamp, vector.body)).toBe(vector.signature);
	},
);

test.each(vectors.v2.vectors.map((vector) => [vector.name, vector] as const))(
	'v2: signs %s exactly like the processor verifies',
	(_name, vector) => {
		expect(signV2(vector.secrets, vector.id, vector.timestamp, vector.body)).toBe(vector.signature);
	},
);

test.each(vectors.v2.must_fail.map((vector) => [vector.name, vector] as const))(
	'v2: %s does not carry a signature the signer would make',
	(_name, vector) => {
		const made = signV2(vector.secrets, vector.id, vector.timestamp, vector.body).split(' ');
		for (const offered of vector.signature.split(' ')) expect(made).not.toContain(offered);
	},
);

test('v2 headers bind the idempotency key; legacy headers carry it unsigned', () => {
	const body = '{"email":"a@example.com"}';
	expect(signatureHeaders('v2', ['s1', 's2'], 'key-1', '1700000000', body)).toEqual({
		'webhook-id': 'key-1',
		'webhook-timestamp': '1700000000',
		'webhook-signature': signV2(['s1', 's2'], 'key-1', '1700000000', body),
	});
	expect(signatureHeaders('legacy', ['s1', 's2'], 'key-1', '1700000000', body)).toEqual({
		'x-timestamp': '1700000000',
		'x-signature': signV1('s1', '1700000000', body),
		'x-idempotency-key': 'key-1',
	});
});

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
	[409, { code: 'request_in_progress' }, 'failed'],
	[415, { code: 'unsupported_media_type' }, 'failed'],
	[429, { code: 'rate_limited' }, 'failed'],
	[500, { status: 'failed', dlq_id: 3 }, 'failed'],
	[503, { code: 'database_unavailable' }, 'failed'],
	[0, { code: 'processor_unreachable' }, 'failed'],
] as const)('HTTP %i %j goes to the %s output', (statusCode, answer, expected) => {
	expect(outcomeOf(statusCode, answer)).toBe(expected);
});

interface AnswerOnStoreVector {
	name: string;
	secret: string;
	derived_key_base64: string;
	id: string;
	timestamp: string;
	body: string;
	signature: string;
}

const answerOnStore = (
	JSON.parse(
		readFileSync(join(__dirname, '..', 'contracts', 'signature-vectors.json'), 'utf8'),
	) as { answer_on_store?: AnswerOnStoreVector[] }
).answer_on_store;

// the vectors arrive with the processor's answer on store (the same file holds both sides)
(answerOnStore?.length ? describe : describe.skip)('answer on store', () => {
	test.each((answerOnStore ?? []).map((vector) => [vector.name, vector] as const))(
		'%s: the derived key and the v2 signature are the processor’s',
		(_name, vector) => {
			expect(answerOnStoreKey(vector.secret).toString('base64')).toBe(vector.derived_key_base64);
			expect(signV2([vector.secret], vector.id, vector.timestamp, vector.body, 'stored')).toBe(
				vector.signature,
			);
			// and never the secret's own signature
			expect(signV2([vector.secret], vector.id, vector.timestamp, vector.body)).not.toBe(
				vector.signature,
			);
		},
	);
});

interface SourceBoundVector extends AnswerOnStoreVector {
	mode: 'delivered' | 'stored';
	source: string;
	legacy_signature: string;
}

const sourceBound = (
	JSON.parse(
		readFileSync(join(__dirname, '..', 'contracts', 'signature-vectors.json'), 'utf8'),
	) as { source_bound: SourceBoundVector[] }
).source_bound;

describe('bound to the source', () => {
	test.each(sourceBound.map((vector) => [vector.name, vector] as const))(
		'%s: both schemes sign as the processor verifies, and X-Source is the bound source',
		(_name, vector) => {
			const { secret, id, timestamp, body, mode, source } = vector;
			expect(signatureHeaders('v2', [secret], id, timestamp, body, mode, source)).toEqual({
				'webhook-id': id,
				'webhook-timestamp': timestamp,
				'webhook-signature': vector.signature,
				'x-source': source,
				...(mode === 'stored' ? { prefer: 'respond-async' } : {}),
			});
			expect(signatureHeaders('legacy', [secret], id, timestamp, body, mode, source)).toMatchObject(
				{ 'x-signature': vector.legacy_signature, 'x-source': source },
			);
			// never the signature of another source, or of none
			expect(signV2([secret], id, timestamp, body, mode, `${source}x`)).not.toBe(vector.signature);
			expect(signV2([secret], id, timestamp, body, mode)).not.toBe(vector.signature);
		},
	);
});
