import { z } from 'zod';

const text = z.string().nullish();
const textOrNumber = z.union([z.string(), z.number()]).nullish();

/**
 * The lead shapes our sources send (docs/contract.md, "The lead"): known fields must have the right type,
 * anything else is kept as a free attribute. `idempotency_key` in the body is accepted and
 * ignored; the X-Idempotency-Key header decides.
 */
export const LeadSchema = z.looseObject({
	email: text,
	name: text,
	phone: textOrNumber,
	note: text,
	zipcode: textOrNumber,
	address: z.looseObject({ zip: textOrNumber, street: text }).nullish(),
	house: z.looseObject({ is_owner: z.union([z.boolean(), z.string()]).nullish() }).nullish(),
	idempotency_key: text,
	/** What the person consented to (docs/privacy.md, "Consent"); the rules may require it. */
	consent: z
		.union([
			z.looseObject({
				given: z.union([z.boolean(), z.string()]).nullish(),
				timestamp: z.string().max(64).nullish(),
				text_version: z.string().max(100).nullish(),
			}),
			// a bare flag, as sources sent before: given, but not when or to what
			z.boolean(),
			z.string(),
		])
		.nullish(),
});
