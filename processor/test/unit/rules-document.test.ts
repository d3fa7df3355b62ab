import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toCrmRequest } from '../../src/intake/crm-request.js';
import { defaultMappingFile, defaultRulesFile } from '../../src/paths.js';
import {
	changedSections,
	ProposedDocumentSchema,
	readSeedDocument,
	RulesDocumentSchema,
} from '../../src/rules/document.js';

const seed = () => readSeedDocument(defaultRulesFile, defaultMappingFile);

test('the files with the default duplicate settings make a valid first version', async () => {
	const document = await seed();
	expect(ProposedDocumentSchema.safeParse(document).error).toBeUndefined();
	expect(document.duplicates).toEqual({
		window_hours: 24,
		identity: 'email_or_phone',
		default_phone_region: 'DE',
		policy: 'drop',
	});
});

test.each([
	['^66\\d{3}$', true],
	['^(?:DE-)?6[67]\\d{3}$', true],
	['^(\\d+)+$', false],
	['^(a|a)*$', false],
	['(x+x+)+y', false],
	// valid JavaScript the detector cannot read: refused, never passed unproven
	['^(?<digits>\\d+)+$', false],
	['^(?<digits>\\d{5})$', false],
	// a lookbehind runs right to left, which the proof does not follow: refused, however harmless
	['(?<=^(?:\\w+\\s?)+)$', false],
	['(?<!^(?:\\w+\\s?)+)$', false],
	['^\\w+(?<=^(?:[A-Za-z]+-?)+)$', false],
	['(?<=a)b', false],
	// not a lookbehind: inside a class, escaped, a named group's name
	['^[(?<=]+$', true],
	['^\\(\\?<=x$', true],
])('pattern %s is proven safe: %p', async (pattern, safe) => {
	const document = await seed();
	document.rules.checks[0] = { ...document.rules.checks[0]!, pattern };
	const result = ProposedDocumentSchema.safeParse(document);
	expect(result.success).toBe(safe);
	if (!safe) expect(result.error!.issues[0]!.path).toEqual(['rules', 'checks', 0, 'pattern']);
	// a stored document is not vetted again on load (only its shape is checked)
	expect(RulesDocumentSchema.safeParse(document).success).toBe(true);
});

test('many hard patterns in one document are all refused (by steps, or by the time budget once it is spent)', async () => {
	const document = await seed();
	document.rules.checks = Array.from({ length: 50 }, (_, index) => ({
		code: `CHECK_${index}`,
		path: 'note',
		pattern: `^(a|a${'a'.repeat(index % 5)})*$`,
	}));
	const result = ProposedDocumentSchema.safeParse(document);
	expect(result.success).toBe(false);
	expect(result.error!.issues).toHaveLength(50);
});

test('changedSections names the top-level sections that differ', async () => {
	const before = await seed();
	const after = structuredClone(before);
	expect(changedSections(before, after)).toEqual([]);
	after.duplicates.window_hours = 0;
	expect(changedSections(before, after)).toEqual(['duplicates']);
	expect(changedSections(null, after)).toEqual(['rules', 'mapping', 'duplicates']);
});

test('a rules file that does not validate stops the start, naming the file and the field', async () => {
	const folder = await mkdtemp(join(tmpdir(), 'lih-rules-'));
	try {
		const broken = join(folder, 'rules.json');
		const rules = JSON.parse(await readFile(defaultRulesFile, 'utf8')) as {
			checks: { pattern?: string }[];
		};
		rules.checks[0]!.pattern = '(a+)+$';
		await writeFile(broken, JSON.stringify({ ...rules, extra: 1 }));
		await expect(readSeedDocument(broken, defaultMappingFile)).rejects.toThrow(
			`Invalid ${broken}:\n  (file): Unrecognized key: "extra"`,
		);
		await writeFile(broken, JSON.stringify(rules));
		await expect(readSeedDocument(broken, defaultMappingFile)).rejects.toThrow(
			`Invalid ${broken}:\n  checks.0.pattern: the pattern `,
		);
	} finally {
		await rm(folder, { recursive: true, force: true });
	}
});

test('a default phone region of the right form that has no phone numbers (UK) is refused at save', async () => {
	const document = await seed();
	const parsed = ProposedDocumentSchema.safeParse({
		...document,
		duplicates: { ...document.duplicates, default_phone_region: 'UK' },
	});
	expect(parsed.error?.issues).toContainEqual(
		expect.objectContaining({
			path: ['duplicates', 'default_phone_region'],
			message: expect.stringContaining('the UK is GB'),
		}),
	);
	const gb = { ...document, duplicates: { ...document.duplicates, default_phone_region: 'GB' } };
	expect(ProposedDocumentSchema.safeParse(gb).error).toBeUndefined();
});

test.each(['key', 'run_id', 'attributes'])(
	'the CRM request field %s cannot be mapped or set as a constant: the CRM upserts by key',
	async (name) => {
		const document = await seed();
		for (const section of ['fields', 'constants'] as const) {
			const mapping = {
				...document.mapping,
				[section]: { ...document.mapping[section], [name]: section === 'fields' ? 'email' : 'x' },
			};
			const parsed = ProposedDocumentSchema.safeParse({ ...document, mapping });
			expect(parsed.error?.issues).toContainEqual(
				expect.objectContaining({ path: ['mapping', section, name] }),
			);
		}
	},
);

test('the CRM request keeps its key and run_id whatever a mapping holds', () => {
	const { body } = toCrmRequest(
		{ email: 'a@example.com' },
		{ fields: { email: 'email' }, constants: { key: 'one-for-all', run_id: 'x' }, attributes: {} },
		'run-1',
		'lead-key-1',
	);
	expect(body).toMatchObject({ key: 'lead-key-1', run_id: 'run-1', email: 'a@example.com' });
});

test.each([
	['an "equals" text that normalises to a boolean', { equals: 'true' }, 'equals'],
	['an "equals" text with spaces around', { equals: ' yes' }, 'equals'],
	['a number "equals" on a zip read as text', { path: 'zipcode', equals: 66123 }, 'equals'],
])('a check no lead can pass is refused at save: %s', async (_name, change, field) => {
	const document = await seed();
	document.rules.checks[1] = { code: 'NOT_HOMEOWNER', path: 'house.is_owner', ...change };
	const result = RulesDocumentSchema.safeParse(document);
	expect(result.error?.issues.map((issue) => issue.path)).toEqual([['rules', 'checks', 1, field]]);
});

test('mapping attributes no lead can fill are refused at save: a dropdown value a lead cannot carry, a range with min above max', async () => {
	const document = await seed();
	document.mapping.attributes = {
		offer: { type: 'dropdown', values: ['Kaufen', 'False', ' Mieten'] },
		area: { type: 'range', min: 10, max: 1 },
	};
	const result = RulesDocumentSchema.safeParse(document);
	expect(result.error?.issues.map((issue) => issue.path)).toEqual([
		['mapping', 'attributes', 'offer', 'values', 1],
		['mapping', 'attributes', 'offer', 'values', 2],
		['mapping', 'attributes', 'area', 'min'],
	]);
	// what a lead can read stays valid: the shipped document, and quoted zip codes
	const shipped = await seed();
	shipped.rules.checks.push({ code: 'ZIP_66123', path: 'zipcode', equals: '66123' });
	expect(RulesDocumentSchema.safeParse(shipped).error).toBeUndefined();
});
