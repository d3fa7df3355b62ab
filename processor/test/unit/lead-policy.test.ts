import { readFileSync } from 'node:fs';
import { fingerprintLead } from '../../src/intake/fingerprint.js';
import type { JsonObject } from '../../src/json.js';
import { mapLead, MappingSchema } from '../../src/intake/mapping.js';
import { normalizeLead } from '../../src/intake/normalize.js';
import { parseLeadBody } from '../../src/intake/lead-body.js';
import { compileRules, RulesSchema } from '../../src/intake/rules.js';
import { prepareLead } from '../../src/intake/prepare-lead.js';
import { defaultMappingFile, defaultRulesFile } from '../../src/paths.js';

const rules = compileRules(RulesSchema.parse(JSON.parse(readFileSync(defaultRulesFile, 'utf8'))));
const mapping = MappingSchema.parse(JSON.parse(readFileSync(defaultMappingFile, 'utf8')));
const evaluate = (lead: JsonObject) => rules.evaluate(normalizeLead(lead));

describe('normalizeLead', () => {
	test('trims, lower-cases the email, turns boolean strings and numeric zips into proper types', () => {
		expect(
			normalizeLead({
				email: '  Jane.Doe@Example.COM ',
				phone: 491701234567,
				zipcode: 66123,
				address: { zip: ' 66123 ', street: ' Main St ' },
				house: { is_owner: 'TRUE' },
				newsletter: 'false',
				note: null,
			}),
		).toEqual({
			email: 'jane.doe@example.com',
			phone: '491701234567',
			zipcode: '66123',
			address: { zip: '66123', street: 'Main St' },
			house: { is_owner: true },
			newsletter: false,
		});
	});
});

describe('default rules', () => {
	const owner = { house: { is_owner: true } };

	test('a lead in 66xxx owned by the applicant passes, with either zip shape', () => {
		expect(evaluate({ address: { zip: '66123' }, ...owner }).reasons).toEqual([]);
		expect(evaluate({ zipcode: 66999, ...owner }).reasons).toEqual([]);
	});

	test.each(['12345', '65999', '67000', '6612', '661234'])('zip %s -> ZIP_NOT_66XXX', (zip) => {
		expect(evaluate({ address: { zip }, ...owner }).reasons).toEqual(['ZIP_NOT_66XXX']);
	});

	test.each([false, 'false', 'yes'])('is_owner %p -> NOT_HOMEOWNER', (isOwner) => {
		expect(evaluate({ address: { zip: '66123' }, house: { is_owner: isOwner } }).reasons).toEqual([
			'NOT_HOMEOWNER',
		]);
	});

	test('missing zip or ownership -> MISSING_REQUIRED_FIELD, naming the fields', () => {
		expect(evaluate({ email: 'a@b.de' })).toEqual({
			reasons: ['MISSING_REQUIRED_FIELD'],
			missingFields: ['zip', 'house.is_owner'],
		});
		expect(evaluate({ address: { zip: '  ' }, house: { is_owner: false } })).toEqual({
			reasons: ['MISSING_REQUIRED_FIELD', 'NOT_HOMEOWNER'],
			missingFields: ['zip'],
		});
	});

	test('every failing rule is reported', () => {
		expect(evaluate({ address: { zip: '10115' }, house: { is_owner: false } }).reasons).toEqual([
			'ZIP_NOT_66XXX',
			'NOT_HOMEOWNER',
		]);
	});

	test('a rules file with a bad code is refused', () => {
		expect(() =>
			RulesSchema.parse({ required: [], checks: [{ code: 'lower', path: 'x', equals: 1 }] }),
		).toThrow();
	});
});

test('paths read only the lead\'s own fields: "constructor" or "valueOf" is missing, not inherited', () => {
	const inherited = compileRules(
		RulesSchema.parse({
			required: [{ field: 'consent_ref', path: 'constructor' }],
			checks: [{ code: 'BAD_LANG', path: 'valueOf', equals: 'de' }],
		}),
	);
	expect(inherited.evaluate(normalizeLead({ email: 'a@example.com' }))).toEqual({
		reasons: ['MISSING_REQUIRED_FIELD'],
		missingFields: ['consent_ref'],
	});
	const mapped = mapLead(
		{ email: 'a@example.com' },
		MappingSchema.parse({ ...mapping, fields: { ...mapping.fields, crm_proto: 'constructor' } }),
	);
	expect(mapped.fields).not.toHaveProperty('crm_proto');
});

describe('CRM mapping', () => {
	test('maps dot paths (with fallbacks), adds constants and typed attributes', () => {
		const lead = normalizeLead({
			email: 'A@B.de',
			phone: '+49 1',
			zipcode: '66123',
			house: { is_owner: 'true' },
			solar_energy_consumption: '5000',
			solar_offer_type: 'Kaufen',
			attributes: { solar_area: '42' },
		});
		expect(mapLead(lead, mapping)).toEqual({
			fields: {
				product: { name: 'Solaranlage' },
				customer_email: 'a@b.de',
				phone: '+49 1',
				customer_zip: '66123',
				is_homeowner: true,
			},
			attributes: [
				{ name: 'solar_energy_consumption', value: '5000' },
				{ name: 'solar_offer_type', value: 'Kaufen' },
				{ name: 'solar_area', value: 42 },
			],
			droppedAttributes: [],
		});
	});

	test('invalid optional attributes are dropped, not fatal (typed attributes)', () => {
		const lead = normalizeLead({
			solar_energy_consumption: 'a lot',
			solar_offer_type: 'Leasing',
			solar_area: 0,
		});
		const mapped = mapLead(lead, mapping);
		expect(mapped.attributes).toEqual([]);
		expect(mapped.droppedAttributes).toEqual([
			'solar_energy_consumption',
			'solar_offer_type',
			'solar_area',
		]);
	});
});

describe('parseLeadBody', () => {
	const parse = (text: string) => () => parseLeadBody(Buffer.from(text));

	test('invalid JSON -> 400 invalid_json', () => {
		expect(parse('{"email": ')).toThrow(
			expect.objectContaining({ status: 400, code: 'invalid_json' }),
		);
	});

	test.each([
		'[1,2]',
		'"lead"',
		'null',
		'{"email": 5}',
		'{"house": "yes"}',
		'{"address": {"zip": true}}',
	])('%s -> 422 invalid_lead', (text) => {
		expect(parse(text)).toThrow(expect.objectContaining({ status: 422, code: 'invalid_lead' }));
	});

	test('the 422 names the offending field, not its value', () => {
		try {
			parseLeadBody(Buffer.from('{"email": 12345}'));
			throw new Error('expected a 422');
		} catch (error) {
			const issues = (error as { details: { issues: { path: string }[] } }).details.issues;
			expect(issues.map((issue) => issue.path)).toEqual(['email']);
			expect(JSON.stringify(issues)).not.toContain('12345');
		}
	});

	test.each([
		['numbers', '0'],
		['booleans', 'true'],
		['nulls', 'null'],
		['strings', '"a"'],
	])('more than 10,000 values counts, %s too -> 422 lead_too_large', (_, item) => {
		const wide = (count: number) =>
			`{"zipcode":"66123","extra":[${Array(count).fill(item).join(',')}]}`;
		expect(parse(wide(130_000))).toThrow(
			expect.objectContaining({ status: 422, code: 'lead_too_large' }),
		);
		expect(parse(wide(9_000))).not.toThrow();
	});

	test('free attributes and a body idempotency_key are accepted', () => {
		expect(parseLeadBody(Buffer.from('{"roof":{"angle":30},"idempotency_key":"abc"}'))).toEqual({
			roof: { angle: 30 },
			idempotency_key: 'abc',
		});
	});
});

describe('fingerprintLead', () => {
	test('ignores key order, whitespace and the body idempotency_key; sees any value change', () => {
		const a = fingerprintLead({ email: 'a@b.de', house: { is_owner: true }, idempotency_key: '1' });
		const b = fingerprintLead({ house: { is_owner: true }, email: 'a@b.de' });
		const c = fingerprintLead({ house: { is_owner: false }, email: 'a@b.de' });
		expect(a).toBe(b);
		expect(a).not.toBe(c);
	});
});

describe('consent as kept with the run (also after an erasure): only in forms that name no one', () => {
	const keptOf = (consent: JsonObject, versions?: string[]) => {
		const document = JSON.parse(readFileSync(defaultRulesFile, 'utf8')) as Record<string, unknown>;
		if (versions) document.consent = { required: false, text_versions: versions };
		const policy = { rules: compileRules(RulesSchema.parse(document)), emailHashSalt: 'salt-0123' };
		return prepareLead({ email: 'a@example.com', consent }, policy).consent;
	};

	test.each([
		['2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z'],
		['2026-12-01', '2026-12-01'],
		['1764583200', '1764583200'],
		['1764583200000', '1764583200000'],
		// a phone number is no Unix time, a note no timestamp
		['491705550007', '[withheld]'],
		['01705550007', '[withheld]'],
		['yesterday, on the phone with Olga', '[withheld]'],
	])('timestamp %s -> %s', (timestamp, kept) => {
		expect(keptOf({ given: true, timestamp })?.timestamp).toBe(kept);
	});

	test.each([
		['privacy-2026-01', 'privacy-2026-01'],
		['v3.1', 'v3.1'],
		['terms/2025', 'terms/2025'],
		// a name, a phone number, a phone number in a label, an address
		['Olga.Oldtimer', '[withheld]'],
		['0170-5550007', '[withheld]'],
		['tel:+491705550007', '[withheld]'],
		['sent to olga@example.com', '[withheld]'],
	])('text version %s (the rules name none) -> %s', (version, kept) => {
		expect(keptOf({ given: true, text_version: version })?.text_version).toBe(kept);
	});

	test('where the rules name the versions, exactly those are kept, whatever their form', () => {
		const versions = ['Datenschutz v2'];
		expect(keptOf({ text_version: 'Datenschutz v2' }, versions)?.text_version).toBe(
			'Datenschutz v2',
		);
		expect(keptOf({ text_version: 'privacy-2026-01' }, versions)?.text_version).toBe('[withheld]');
	});
});
