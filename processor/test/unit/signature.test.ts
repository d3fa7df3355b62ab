import { readFileSync } from 'node:fs';
import { computeSignature, verifySignature } from '../../src/intake/signature.js';

interface Vector {
	name: string;
	secret: string;
	timestamp: string;
	body: string;
	signature: string;
}

const { vectors } = JSON.parse(
	readFileSync(new URL('../../../test/contracts/signature-vectors.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };

const SECRET = 'current-secret-0123456789';
const policy = { secrets: [SECRET], maxSkewSeconds: 300, nowSeconds: 1_767_225_600 };
const body = Buffer.from('{"email":"a@b.de"}');
const signed = (timestamp: string, secret = SECRET) => ({
	timestamp,
	signature: computeSignature(secret, timestamp, body),
	rawBody: body,
});

describe('signature contract (shared with the n8n Lead Intake node)', () => {
	test.each(vectors)('$name', (vector) => {
		expect(
			computeSignature(vector.secret, vector.timestamp, Buffer.from(vector.body, 'utf8')),
		).toBe(vector.signature);
		const verdict = verifySignature(
			{
				timestamp: vector.timestamp,
				signature: vector.signature,
				rawBody: Buffer.from(vector.body, 'utf8'),
			},
			{ secrets: [vector.secret], maxSkewSeconds: 300, nowSeconds: Number(vector.timestamp) },
		);
		expect(verdict).toEqual({ ok: true });
	});
});

describe('verifySignature', () => {
	test('accepts a fresh, correctly signed request', () => {
		expect(verifySignature(signed('1767225600'), policy)).toEqual({ ok: true });
	});

	test.each([
		['no timestamp', { ...signed('1767225600'), timestamp: undefined }],
		['no signature', { ...signed('1767225600'), signature: undefined }],
	])('%s -> 401 signature_missing', (_name, request) => {
		expect(verifySignature(request, policy)).toMatchObject({
			ok: false,
			status: 401,
			code: 'signature_missing',
		});
	});

	test.each(['12.5', 'abc', '-5', ''])('timestamp %p -> 400 (or 401 when empty)', (timestamp) => {
		const verdict = verifySignature(signed(timestamp), policy);
		expect(verdict).toMatchObject({ ok: false, status: timestamp === '' ? 401 : 400 });
	});

	test('another body, another secret, or upper-case hex -> 401 signature_invalid', () => {
		const wrongBody = { ...signed('1767225600'), rawBody: Buffer.from('{"email":"x@b.de"}') };
		const wrongSecret = signed('1767225600', 'some-other-secret-0123456789');
		const upperHex = { ...signed('1767225600') };
		upperHex.signature = `sha256=${upperHex.signature.slice(7).toUpperCase()}`;
		for (const request of [wrongBody, wrongSecret, upperHex]) {
			expect(verifySignature(request, policy)).toMatchObject({
				ok: false,
				status: 401,
				code: 'signature_invalid',
			});
		}
	});

	test('a timestamp outside the skew window, either way -> 409', () => {
		for (const timestamp of ['1767225299', '1767225901', String(1_767_225_600 - 3600)]) {
			expect(verifySignature(signed(timestamp), policy)).toMatchObject({
				ok: false,
				status: 409,
				code: 'timestamp_out_of_window',
			});
		}
		expect(verifySignature(signed('1767225300'), policy)).toEqual({ ok: true });
	});

	test('rotation: every configured secret is accepted', () => {
		const rotating = { ...policy, secrets: ['next-secret-0123456789', SECRET] };
		expect(verifySignature(signed('1767225600'), rotating)).toEqual({ ok: true });
		expect(verifySignature(signed('1767225600', 'next-secret-0123456789'), rotating)).toEqual({
			ok: true,
		});
	});
});
