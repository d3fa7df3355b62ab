import { createHash } from 'node:crypto';
import { hashEmail, maskEmail } from '../../src/pii/email.js';
import { createLeadCipher } from '../../src/pii/lead-cipher.js';
import { readFileSync } from 'node:fs';
import type { JsonObject, JsonValue } from '../../src/json.js';
import { compileRules, RulesSchema } from '../../src/intake/rules.js';
import {
	maskEmailsIn,
	maskEmailsWithin,
	sanitize,
	sanitizeHeaders,
} from '../../src/pii/sanitize.js';

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

	test('linear on text without @, on text of many @ and no address, and on one long address', () => {
		const long = 'a'.repeat(200_000);
		expect(maskEmailsIn(long)).toBe(long);
		const ats = '@ a@ '.repeat(40_000);
		expect(maskEmailsIn(ats)).toBe(ats);
		const one = `${'x'.repeat(100_000)}@example.com`;
		expect(maskEmailsIn(one)).toBe('x***@example.com');
		const chained = `a${'@b'.repeat(50_000)}`;
		expect(maskEmailsIn(chained)).toBe('a***@b');
	});

	test("the rules judge a masked lead as they judge the lead: zip, owner flag and every field's presence stay", () => {
		const rules = compileRules(
			RulesSchema.parse(
				JSON.parse(readFileSync(new URL('../../config/rules.json', import.meta.url), 'utf8')),
			),
		);
		const leads: JsonObject[] = [
			{
				email: 'jane@example.com',
				address: { zip: '66123', street: 'Hauptstrasse 1' },
				house: { is_owner: true },
			},
			{ name: 'Jane Doe', zipcode: 66123, house: { is_owner: false } },
			{ nick: 'Janie', address: { zip: '10115' }, house: { is_owner: 'yes' } },
			{ owner: 'Jane Doe', house: {} },
			{ zipcode: '', address: { zip: null }, house: { is_owner: true } },
			{ person: { given: 'Jane' }, address: '66123 Homburg, Hauptstrasse 1' },
		];
		for (const lead of leads) {
			expect(rules.evaluate(sanitize(lead) as JsonObject)).toEqual(rules.evaluate(lead));
		}
	});

	test('headers: the allowed ones plain (cut short, e-mails masked); any other named with its value masked', () => {
		expect(
			sanitizeHeaders({
				authorization: 'Bearer abc',
				'x-signature': 'sha256=00',
				'webhook-signature': 'v1,abc=',
				cookie: 'a=b',
				'x-source': 'jane@example.com',
				'content-type': 'application/json',
				'x-idempotency-key': `k${'k'.repeat(1000)}`,
				'user-agent': 'LeadBot (Jane Doe)',
				'x-skip': undefined,
			}),
		).toEqual({
			authorization: '***',
			'x-signature': '***',
			'webhook-signature': '***',
			cookie: '***',
			'x-source': 'j***@example.com',
			'content-type': 'application/json',
			'x-idempotency-key': 'k'.repeat(200),
			'user-agent': '***',
		});
	});

	test('headers: a flood of other headers names at most 20 of them', () => {
		const flood = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x-fuzz-${i}`, 'v']));
		const kept = sanitizeHeaders({ ...flood, 'x-source': 'web' });
		expect(Object.keys(kept)).toHaveLength(21);
		expect(kept['x-source']).toBe('web');
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

test('masking cut to a limit: short addresses grow when masked, the result still fits', () => {
	const text = Array.from({ length: 25 }, () => 'a@b').join(' ');
	expect(text.length).toBeLessThanOrEqual(100);
	expect(maskEmailsIn(text).length).toBeGreaterThan(100);
	const cut = maskEmailsWithin(text, 100);
	expect([...cut]).toHaveLength(100);
	expect(cut).not.toContain('a@b');
});
