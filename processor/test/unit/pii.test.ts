import { createHash } from 'node:crypto';
import { hashEmail, maskEmail } from '../../src/pii/email.js';
import { createLeadCipher } from '../../src/pii/lead-cipher.js';
import { sanitize, sanitizeHeaders } from '../../src/pii/sanitize.js';

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

describe('sanitize', () => {
	test('masks personal fields and any email address anywhere', () => {
		const result = sanitize({
			email: 'jane@example.com',
			name: 'Jane Doe',
			phone: '+49 170 1234567',
			note: 'call me at jane@example.com',
			address: { zip: '66123', street: 'Hauptstrasse 1' },
			extra: { contacts: ['boss@corp.example.org'], nested: 'cc: x.y@z.io' },
			constructor: 'not a function',
		});
		expect(result).toEqual({
			email: 'j***@example.com',
			name: 'J***',
			phone: '***67',
			note: '[27 characters withheld]',
			address: { zip: '66123', street: '***' },
			extra: { contacts: ['b***@corp.example.org'], nested: 'cc: x***@z.io' },
			constructor: 'not a function',
		});
		expect(JSON.stringify(result)).not.toMatch(/jane@|boss@|x\.y@/);
	});

	test('headers: credentials and signatures withheld, emails masked', () => {
		expect(
			sanitizeHeaders({
				authorization: 'Bearer abc',
				'x-signature': 'sha256=00',
				'x-source': 'jane@example.com',
				'x-skip': undefined,
			}),
		).toEqual({
			authorization: '[withheld]',
			'x-signature': '[withheld]',
			'x-source': 'j***@example.com',
		});
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
