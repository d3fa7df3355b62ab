import {
	normalizeEmailIdentity,
	normalizePhoneIdentity,
} from '../../src/intake/person-identity.js';
import { normalizeLead } from '../../src/intake/normalize.js';

test.each([
	// as written in forms: international, national with the trunk prefix, with separators
	['+49 171 5555 1234', 'DE', '+4917155551234'],
	['0171 5555 1234', 'DE', '+4917155551234'],
	['0171/5555-1234', 'DE', '+4917155551234'],
	['0049 171 5555 1234', 'DE', '+4917155551234'],
	// the region's country code without "+", as exports write it (was read as a national number)
	['4917155551234', 'DE', '+4917155551234'],
	['49 171 5555 1234', 'DE', '+4917155551234'],
	['4930123456', 'DE', '+4930123456'],
	['12025550123', 'US', '+12025550123'],
	['2025550123', 'US', '+12025550123'],
	// another region's code without "+" stays a number of the default region's
	['4917155551234', 'AT', '+434917155551234'],
])('%s in %s is %s', (text, region, e164) => {
	expect(normalizePhoneIdentity(text, region)).toBe(e164);
});

test('a number, as a lead may carry it, is read like its digits', () => {
	expect(normalizePhoneIdentity(4917155551234, 'DE')).toBe('+4917155551234');
});

test('what is not a phone number has no identity', () => {
	for (const text of ['', '   ', 'n/a', '12', null, true]) {
		expect(normalizePhoneIdentity(text, 'DE')).toBeNull();
	}
});

test('a region the phone metadata does not know (stored by other means than the rules API) reads only international numbers, never throws', () => {
	expect(normalizePhoneIdentity('+49 171 5555 1234', 'UK')).toBe('+4917155551234');
	expect(normalizePhoneIdentity('4917155551234', 'UK')).toBeNull();
	expect(normalizePhoneIdentity('0171 5555 1234', 'UK')).toBeNull();
});

test('an e-mail address is one identity however its accents are encoded (NFC or NFD), in any case', () => {
	const composed = 'José@Example.com'.normalize('NFC');
	const decomposed = 'josé@example.com'.normalize('NFD');
	expect(composed).not.toBe(decomposed);
	expect(normalizeEmailIdentity(decomposed)).toBe(normalizeEmailIdentity(composed));
	expect(normalizeLead({ email: ` ${decomposed} ` }).email).toBe(normalizeEmailIdentity(composed));
});
