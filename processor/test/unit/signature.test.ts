import { readFileSync } from 'node:fs';
import {
	answerOnStoreKey,
	answerOnStoreKeys,
	signingKeys,
	signV1,
	signV2,
	sourceBoundKey,
	sourceBoundKeys,
	readSignatureHeaders,
	verifySignature,
	type SignatureHeaders,
	type SignaturePolicy,
} from '../../src/intake/signature.js';

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

const contract = JSON.parse(
	readFileSync(new URL('../../../test/contracts/signature-vectors.json', import.meta.url), 'utf8'),
) as {
	v1: { vectors: V1Vector[] };
	v2: { vectors: V2Vector[]; must_fail: V2Vector[] };
	answer_on_store: (V1Vector & { id: string; derived_key_base64: string })[];
	source_bound: (V1Vector & {
		id: string;
		mode: 'delivered' | 'stored';
		source: string;
		derived_key_base64: string;
		legacy_signature: string;
	})[];
};

const at = (timestamp: string, secrets: string[], legacyEnabled = true): SignaturePolicy => ({
	keys: signingKeys(secrets),
	legacyEnabled,
	toleranceSeconds: 300,
	nowSeconds: Number(timestamp),
});
const v2Headers = (vector: V2Vector): SignatureHeaders => ({
	webhookId: vector.id,
	webhookTimestamp: vector.timestamp,
	webhookSignature: vector.signature,
});

describe('signature contract (shared with the n8n Lead Intake node)', () => {
	test.each(contract.answer_on_store)('answer on store: $name', (vector) => {
		const body = Buffer.from(vector.body, 'utf8');
		const [key] = signingKeys([vector.secret]);
		const derived = answerOnStoreKey(key!.key);
		expect(derived.toString('base64')).toBe(vector.derived_key_base64);
		expect(signV2(derived, vector.id, vector.timestamp, body)).toBe(vector.signature);
		const headers = {
			webhookId: vector.id,
			webhookTimestamp: vector.timestamp,
			webhookSignature: vector.signature,
		};
		const policy = at(vector.timestamp, [vector.secret]);
		// verifies with the derived keys only: the answer mode cannot be flipped
		expect(
			verifySignature(headers, body, { ...policy, keys: answerOnStoreKeys(policy.keys) }),
		).toMatchObject({ ok: true, scheme: 'v2', signer: key!.id });
		expect(verifySignature(headers, body, policy)).toMatchObject({
			ok: false,
			code: 'signature_invalid',
		});
	});

	test.each(contract.source_bound)('bound to its source: $name', (vector) => {
		const body = Buffer.from(vector.body, 'utf8');
		const policy = at(vector.timestamp, [vector.secret]);
		const modeKeys = vector.mode === 'stored' ? answerOnStoreKeys(policy.keys) : policy.keys;
		const bound = sourceBoundKey(modeKeys[0]!.key, vector.source);
		expect(bound.toString('base64')).toBe(vector.derived_key_base64);
		expect(signV2(bound, vector.id, vector.timestamp, body)).toBe(vector.signature);
		expect(signV1(bound, vector.timestamp, body)).toBe(vector.legacy_signature);
		const v2 = {
			webhookId: vector.id,
			webhookTimestamp: vector.timestamp,
			webhookSignature: vector.signature,
		};
		const v1 = { legacyTimestamp: vector.timestamp, legacySignature: vector.legacy_signature };
		for (const headers of [v2, v1]) {
			expect(
				verifySignature(headers, body, {
					...policy,
					keys: sourceBoundKeys(modeKeys, vector.source),
				}),
			).toMatchObject({ ok: true, signer: policy.keys[0]!.id });
			// another source, no source, or the other answer mode: not recognised
			const others = [
				sourceBoundKeys(modeKeys, `${vector.source}x`),
				modeKeys,
				sourceBoundKeys(
					vector.mode === 'stored' ? policy.keys : answerOnStoreKeys(policy.keys),
					vector.source,
				),
			];
			for (const keys of others)
				expect(verifySignature(headers, body, { ...policy, keys })).toMatchObject({
					ok: false,
					code: 'signature_invalid',
				});
		}
	});

	test.each(contract.v1.vectors)('v1: $name', (vector) => {
		const body = Buffer.from(vector.body, 'utf8');
		const [key] = signingKeys([vector.secret]);
		expect(signV1(key!.key, vector.timestamp, body)).toBe(vector.signature);
		const headers = { legacyTimestamp: vector.timestamp, legacySignature: vector.signature };
		expect(verifySignature(headers, body, at(vector.timestamp, [vector.secret]))).toMatchObject({
			ok: true,
			scheme: 'v1',
			signer: key!.id,
		});
	});

	test.each(contract.v2.vectors)('v2: $name', (vector) => {
		const body = Buffer.from(vector.body, 'utf8');
		const keys = signingKeys(vector.secrets);
		const signed = keys.map(({ key }) => signV2(key, vector.id, vector.timestamp, body));
		expect(signed.join(' ')).toBe(vector.signature);
		for (const secret of vector.secrets) {
			expect(verifySignature(v2Headers(vector), body, at(vector.timestamp, [secret]))).toEqual({
				ok: true,
				scheme: 'v2',
				signer: signingKeys([secret])[0]!.id,
				webhookId: vector.id,
			});
		}
	});

	test.each(contract.v2.must_fail)('v2 refuses $name', (vector) => {
		const body = Buffer.from(vector.body, 'utf8');
		expect(
			verifySignature(v2Headers(vector), body, at(vector.timestamp, vector.secrets)),
		).toMatchObject({
			ok: false,
			status: 401,
			code: 'signature_invalid',
		});
	});
});

describe('verifySignature', () => {
	const SECRET = 'current-secret-0123456789';
	const [KEY] = signingKeys([SECRET]) as [{ id: string; key: Buffer }];
	const NOW = '1767225600';
	const body = Buffer.from('{"email":"a@b.de"}');
	const v2 = (timestamp: string, id = 'lead-1', key = KEY.key): SignatureHeaders => ({
		webhookId: id,
		webhookTimestamp: timestamp,
		webhookSignature: signV2(key, id, timestamp, body),
	});
	const v1 = (timestamp: string): SignatureHeaders => ({
		legacyTimestamp: timestamp,
		legacySignature: signV1(KEY.key, timestamp, body),
	});

	test.each([
		['no headers at all', {}],
		['v2 without a signature', { webhookId: 'lead-1', webhookTimestamp: NOW }],
		['v2 without a timestamp', { ...v2(NOW), webhookTimestamp: undefined }],
		['v1 without a signature', { legacyTimestamp: NOW }],
	])('%s -> 401 signature_missing', (_name, headers) => {
		expect(verifySignature(headers, body, at(NOW, [SECRET]))).toMatchObject({
			ok: false,
			status: 401,
			code: 'signature_missing',
		});
	});

	test.each(['12.5', 'abc', '-5', '1'.repeat(13)])('timestamp %p -> 400', (timestamp) => {
		for (const headers of [v2(timestamp), v1(timestamp)]) {
			expect(verifySignature(headers, body, at(NOW, [SECRET]))).toMatchObject({
				ok: false,
				status: 400,
				code: 'timestamp_invalid',
			});
		}
	});

	test('a webhook-id that is not a usable idempotency key -> 400', () => {
		for (const id of ['x'.repeat(201), 'tab\tinside', 'ümlaut']) {
			expect(verifySignature(v2(NOW, id), body, at(NOW, [SECRET]))).toMatchObject({
				status: 400,
				code: 'webhook_id_invalid',
			});
		}
	});

	test('a timestamp outside the tolerance, either way -> 409; at the edge it passes', () => {
		for (const timestamp of ['1767225299', '1767225901', String(Number(NOW) - 3600)]) {
			for (const headers of [v2(timestamp), v1(timestamp)]) {
				expect(verifySignature(headers, body, at(NOW, [SECRET]))).toMatchObject({
					status: 409,
					code: 'timestamp_out_of_window',
				});
			}
		}
		expect(verifySignature(v2('1767225300'), body, at(NOW, [SECRET])).ok).toBe(true);
		expect(verifySignature(v2('1767225900'), body, at(NOW, [SECRET])).ok).toBe(true);
	});

	test('v2: any listed signature made with any configured secret is accepted', () => {
		const next = signingKeys(['next-secret-0123456789'])[0]!;
		const rotating = at(NOW, ['next-secret-0123456789', SECRET]);
		expect(verifySignature(v2(NOW), body, rotating)).toMatchObject({ ok: true, signer: KEY.id });
		const both = {
			...v2(NOW),
			webhookSignature: `v1,bm90LXRoaXM= ${v2(NOW, 'lead-1', next.key).webhookSignature}`,
		};
		expect(verifySignature(both, body, rotating)).toMatchObject({ ok: true, signer: next.id });
	});

	test('v1: upper-case hex is not the format -> 401; the scheme can be switched off', () => {
		const upper = { ...v1(NOW), legacySignature: v1(NOW).legacySignature!.toUpperCase() };
		expect(verifySignature(upper, body, at(NOW, [SECRET]))).toMatchObject({ status: 401 });
		expect(verifySignature(v1(NOW), body, at(NOW, [SECRET], false))).toMatchObject({
			ok: false,
			status: 401,
			code: 'signature_scheme_disabled',
		});
	});

	test('v2: only canonical base64 counts; a malformed entry beside a good one does not spoil it', () => {
		const good = v2(NOW).webhookSignature!;
		const encoded = good.slice(3);
		for (const spelled of [
			`${encoded}x`,
			encoded.slice(0, -1),
			`${encoded}=`,
			` ${encoded}`,
			encoded.replace(/\+/g, '-').replace(/\//g, '_'),
		]) {
			expect(
				verifySignature({ ...v2(NOW), webhookSignature: `v1,${spelled}` }, body, at(NOW, [SECRET])),
			).toMatchObject({ status: 401, code: 'signature_invalid' });
		}
		const both = { ...v2(NOW), webhookSignature: `v1,${encoded}junk ${good}` };
		expect(verifySignature(both, body, at(NOW, [SECRET]))).toMatchObject({
			ok: true,
			signer: KEY.id,
		});
	});

	test('the headers are judged without the body: a request with no usable signature is refused before it is read', () => {
		expect(
			readSignatureHeaders(
				{ webhookId: 'lead-1', webhookTimestamp: NOW, webhookSignature: 'v1,abc=' },
				true,
			),
		).toMatchObject({ status: 401, code: 'signature_invalid' });
		expect(
			readSignatureHeaders({ legacyTimestamp: NOW, legacySignature: 'sha256=00' }, true),
		).toMatchObject({ status: 401, code: 'signature_invalid' });
		expect(readSignatureHeaders(v2(NOW), true)).toMatchObject({
			scheme: 'v2',
			id: 'lead-1',
			timestamp: NOW,
		});
		expect(readSignatureHeaders(v1(NOW), true)).toMatchObject({ scheme: 'v1', timestamp: NOW });
	});

	test('v1: the replay guard is the same for the same signature, different for another', () => {
		const first = verifySignature(v1(NOW), body, at(NOW, [SECRET]));
		const again = verifySignature(v1(NOW), body, at(NOW, [SECRET]));
		const later = verifySignature(v1('1767225601'), body, at(NOW, [SECRET]));
		expect(first.ok && first.scheme === 'v1' && first.replayGuard).toMatch(/^[0-9a-f]{64}$/);
		expect(again).toEqual(first);
		expect(later).not.toEqual(first);
	});
});
