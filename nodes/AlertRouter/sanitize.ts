/*
 * The project's one masking rule for personal data (docs/contract.md, "Personal data"), mirrored
 * from the processor's sanitize module: the node package cannot import the processor. Both are held
 * to test/contracts/pii-vectors.json, so they cannot drift apart unnoticed.
 */

type PersonalKind = 'email' | 'name' | 'phone' | 'street' | 'text';

/** `max@example.com` -> `m***@example.com`; anything that is not an address -> `***`. */
function maskEmail(email: string): string {
	const at = email.lastIndexOf('@');
	if (at < 1) return '***';
	return `${email[0]}***${email.slice(at)}`;
}

const MASKS: Record<PersonalKind, (value: string) => string> = {
	email: maskEmail,
	name: (value) => (value === '' ? '' : `${value.slice(0, 1)}***`),
	phone: (value) => (value.length > 4 ? `***${value.slice(-2)}` : '***'),
	street: () => '***',
	text: (value) => `[${value.length} characters withheld]`,
};

const NAME_KEYS = new Set([
	'name',
	'name1',
	'name2',
	'firstname',
	'lastname',
	'fullname',
	'givenname',
	'familyname',
	'surname',
	'middlename',
	'forename',
	'nickname',
	'maidenname',
	'displayname',
	'contactname',
	'customername',
	'personname',
	'leadname',
	'ownername',
	'vorname',
	'nachname',
]);
const STREET_KEYS = new Set([
	'street',
	'street1',
	'street2',
	'streetname',
	'streetaddress',
	'streetline',
	'streetnumber',
	'housenumber',
	'hausnummer',
	'address1',
	'address2',
	'address3',
	'addressline',
	'addressline1',
	'addressline2',
	'addressline3',
	'line1',
	'line2',
	'strasse',
	'straße',
]);
const PHONE_KEYS = new Set(['tel', 'cell', 'cellular', 'fax', 'handy', 'mobil']);
const TEXT_KEYS = new Set(['note', 'notes', 'comment', 'comments', 'message', 'remarks']);

/** What a key says its value is: compared without case, spaces, `_`, `-` or `.`. */
function personalKindOf(key: string, value: unknown): PersonalKind | null {
	const normalized = key.toLowerCase().replace(/[\s_.-]/g, '');
	if (normalized.includes('email') || normalized === 'mail') return 'email';
	if (NAME_KEYS.has(normalized)) return 'name';
	if (
		normalized.includes('phone') ||
		normalized.includes('mobile') ||
		normalized.includes('telefon') ||
		PHONE_KEYS.has(normalized)
	) {
		return 'phone';
	}
	if (STREET_KEYS.has(normalized)) return 'street';
	// a one-line address; an address object is walked and its street fields masked
	if (normalized === 'address' && typeof value === 'string') return 'street';
	if (TEXT_KEYS.has(normalized)) return 'text';
	return null;
}

/**
 * A copy of any JSON value fit for people to read: values under personal keys masked (every
 * string or number below such a key), and every e-mail address anywhere else, keys included.
 * A `__proto__` key is dropped.
 */
export function sanitize(value: unknown): unknown {
	return sanitizeAs(value, null);
}

function sanitizeAs(value: unknown, kind: PersonalKind | null): unknown {
	if (typeof value === 'string') return kind ? MASKS[kind](value) : maskEmailsIn(value);
	if (typeof value === 'number') return kind ? MASKS[kind](String(value)) : value;
	if (Array.isArray(value)) return value.map((item) => sanitizeAs(item, kind));
	if (value === null || typeof value !== 'object') return value;
	const result: Record<string, unknown> = {};
	for (const [key, item] of Object.entries(value)) {
		if (key === '__proto__') continue;
		result[maskEmailsIn(key)] = sanitizeAs(item, kind ?? personalKindOf(key, item));
	}
	return result;
}

/**
 * Every e-mail address in the text masked (`jane@example.com` -> `j***@example.com`). An address
 * is a run of non-separator characters, an `@`, and a run holding a dot with characters on both
 * sides. Linear time: each character is looked at no more than twice, whatever the input.
 */
export function maskEmailsIn(text: string): string {
	let at = text.indexOf('@');
	if (at === -1) return text;
	let masked = '';
	let copied = 0;
	while (at !== -1) {
		let start = at;
		while (start > copied && !isSeparator(text.charCodeAt(start - 1))) start--;
		let end = at + 1;
		let dot = -1;
		for (; end < text.length && !isSeparator(text.charCodeAt(end)); end++) {
			if (dot === -1 && end > at + 1 && text.charCodeAt(end) === DOT) dot = end;
		}
		if (start < at && dot !== -1 && dot < end - 1) {
			masked += text.slice(copied, start) + maskEmail(text.slice(start, end));
			copied = end;
			at = text.indexOf('@', end);
		} else {
			at = text.indexOf('@', at + 1);
		}
	}
	return masked + text.slice(copied);
}

const DOT = 46;
// @ " ' < > ( ) , ; : and whitespace end an address
const SEPARATOR_CODES = new Set([...'@"\'<>(),;:'].map((char) => char.charCodeAt(0)));

function isSeparator(code: number): boolean {
	if (SEPARATOR_CODES.has(code)) return true;
	if (code === 32 || (code >= 9 && code <= 13)) return true;
	return code > 127 && /\s/.test(String.fromCharCode(code));
}
