import { z } from 'zod';
import { readPath } from './field-path.js';
import { readsAsWritten } from './rules.js';
import type { JsonObject, JsonValue } from '../json.js';

const FieldPathSchema = z.union([
	z.string().min(1).max(200),
	z.array(z.string().min(1).max(200)).min(1).max(10),
]);
const Name = z.string().min(1).max(100);
/** The CRM request's own fields (crm-request.ts): a mapped field of that name would replace them. */
export const RESERVED_CRM_FIELDS = ['key', 'run_id', 'attributes'] as const;
const FieldName = Name.refine(
	(name) => !(RESERVED_CRM_FIELDS as readonly string[]).includes(name),
	`key, run_id and attributes are the CRM request's own fields: choose another name`,
);

const AttributeSchema = z.discriminatedUnion('type', [
	z.strictObject({ type: z.literal('text'), numeric: z.boolean().default(false) }),
	z.strictObject({
		type: z.literal('dropdown'),
		values: z
			.array(
				z
					.string()
					.max(200)
					.refine(
						readsAsWritten,
						'a lead\'s text is trimmed, and "true"/"false" become booleans: no value can match this one',
					),
			)
			.min(1)
			.max(200),
	}),
	z
		.strictObject({
			type: z.literal('range'),
			min: z.number().optional(),
			max: z.number().optional(),
		})
		.refine(
			(range) => range.min === undefined || range.max === undefined || range.min <= range.max,
			{ message: '"min" is above "max": no value fits', path: ['min'] },
		),
]);

/** At most `max` entries: every section of the document has a size the processor can afford. */
const atMost = (max: number) => (record: object) => Object.keys(record).length <= max;

/**
 * The CRM mapping (the `mapping` section of the rules document, first read from
 * CRM_MAPPING_FILE): target field -> dot path(s) into the normalised lead, constants merged into
 * every payload, and typed optional attributes (text, dropdown, range: a value that does not fit
 * is dropped, never fatal). Unknown keys are refused.
 */
export const MappingSchema = z.strictObject({
	fields: z.record(FieldName, FieldPathSchema).refine(atMost(100), 'at most 100 fields'),
	constants: z
		.record(FieldName, z.json().meta({ id: 'JsonValue', description: 'Any JSON value' }))
		.refine(atMost(100), 'at most 100 constants')
		.default({}),
	attributes: z
		.record(Name, AttributeSchema)
		.refine(atMost(100), 'at most 100 attributes')
		.default({}),
});

export type MappingConfig = z.infer<typeof MappingSchema>;
type AttributeSpec = z.infer<typeof AttributeSchema>;

export interface CrmPayload {
	fields: JsonObject;
	attributes: { name: string; value: JsonValue }[];
	/** Optional attributes whose values did not fit their type: left out, never fatal. */
	droppedAttributes: string[];
}

export function mapLead(lead: JsonObject, mapping: MappingConfig): CrmPayload {
	const fields: JsonObject = { ...(mapping.constants as JsonObject) };
	for (const [target, path] of Object.entries(mapping.fields)) {
		const value = readPath(lead, path);
		if (value !== undefined) fields[target] = value;
	}

	const attributes: CrmPayload['attributes'] = [];
	const droppedAttributes: string[] = [];
	for (const [name, spec] of Object.entries(mapping.attributes)) {
		const raw = readPath(lead, [name, `attributes.${name}`]);
		if (raw === undefined) continue;
		const value = coerceAttribute(raw, spec);
		if (value === undefined) droppedAttributes.push(name);
		else attributes.push({ name, value });
	}
	return { fields, attributes, droppedAttributes };
}

function coerceAttribute(raw: JsonValue, spec: AttributeSpec): JsonValue | undefined {
	switch (spec.type) {
		case 'text': {
			if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
			const text = String(raw);
			return spec.numeric && !isNumeric(text) ? undefined : text;
		}
		case 'dropdown':
			return typeof raw === 'string' && spec.values.includes(raw) ? raw : undefined;
		case 'range': {
			const number = typeof raw === 'number' ? raw : isNumeric(String(raw)) ? Number(raw) : NaN;
			if (Number.isNaN(number)) return undefined;
			if (spec.min !== undefined && number < spec.min) return undefined;
			if (spec.max !== undefined && number > spec.max) return undefined;
			return number;
		}
	}
}

function isNumeric(text: string): boolean {
	return /^-?\d+(\.\d+)?$/.test(text.trim());
}
