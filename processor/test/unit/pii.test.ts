import { createHash } from 'node:crypto';
import { hashEmail, maskEmail } from '../../src/pii/email.js';
import { createLeadCipher } from '../../src/pii/lead-cipher.js';
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../../src/intake/lead-schema.js';
import { maskEmailsIn, sanitize, sanitizeHeaders } from '../../src/pii/sanitize.js';

describe('email', () => {
	test('hash is SHA-256 of the normalised email followed by the salt', () => {
		expect(hashEmail('jane@example.com', 'pepper')).toBe(
			createHash('sha256').update('jane@example.compepper').digest('hex'),
		);
	});

	test.each([
		['max@example.com', 'm***@example.com'],
		['a@b.de', 'a***@b.de'],
		['not-an-email', '***'],
		['@example.com', '***'],
	])('mask %s -> %s', (email, masked) => {
		expect(maskEmail(email)).toBe(masked);
	});
});

const piiContract = JSON.parse(
	readFileSync(new URL('../../../test/contracts/pii-vectors.json', import.meta.url), 'utf8'),
) as { vectors: { name: string; input: JsonValue; expected: JsonValue }[] };

describe('sanitize: the one masking rule (shared with the Alert Router node)', () => {
	test.each(piiContract.vectors)('$name', ({ input, expected }) => {
		expect(sanitize(input)).toEqual(expected);
	});

	test('linear on text without @ and on text made of @ and no dot', () => {
		const long = 'a'.repeat(200_000);
		expect(maskEmailsIn(long)).toBe(long);
		const ats = 'a@b '.repeat(50_000);
		expect(maskEmailsIn(ats)).toBe(ats);
		const one = `${'x'.repeat(100_000)}@example.com`;
		expect(maskEmailsIn(one)).toBe('x***@example.com');
	});

	test('headers: only the ones worth keeping, cut short and masked; credentials never kept', () => {
		expect(
			sanitizeHeaders({
				authorization: 'Bearer abc',
				'x-signature': 'sha256=00',
				'webhook-signature': 'v1,abc=',
				cookie: 'a=b',
				'x-source': 'jane@example.com',
				'user-agent': 'u'.repeat(1000),
				'x-skip': undefined,
			}),
		).toEqual({ 'x-source': 'j***@example.com', 'user-agent': 'u'.repeat(200) });
	});
});

describe('lead cipher', () => {
	const cipher = createLeadCipher('a-long-test-passphrase-0123');

	test('round-trips, never stores the plaintext, and uses a fresh IV each time', () => {
		const plaintext = Buffer.from('{"email":"jane@example.com"}');
		const first = cipher.encrypt(plaintext);
		const second = cipher.encrypt(plaintext);
		expect(cipher.decrypt(first)).toEqual(plaintext);
		expect(first.includes(Buffer.from('jane@example.com'))).toBe(false);
		expect(first.equals(second)).toBe(false);
	});

	test('IVs stay distinct, and earlier leads readable, across many encryptions', () => {
		const sealed = Array.from({ length: 1000 }, (_, i) => cipher.encrypt(Buffer.from(`lead ${i}`)));
		expect(new Set(sealed.map((item) => item.subarray(1, 13).toString('hex'))).size).toBe(1000);
		expect(sealed.map((item) => cipher.decrypt(item).toString())).toEqual(
			sealed.map((_, i) => `lead ${i}`),
		);
	});

	test('tampering and a wrong key are detected', () => {
		const sealed = cipher.encrypt(Buffer.from('lead'));
		sealed[sealed.length - 1]! ^= 1;
		expect(() => cipher.decrypt(sealed)).toThrow();
		const other = createLeadCipher('another-passphrase-0123456');
		expect(() => other.decrypt(cipher.encrypt(Buffer.from('lead')))).toThrow();
	});
});
