import type { JsonObject, JsonValue } from '../json.js';
import { maskEmail } from './email.js';

/*
 * The one masking rule for personal data (docs/contract.md, "Personal data"). Everything written
 * for people or for investigation (audit rows, DLQ rows, logs, alert and report files) goes
 * through sanitize(). The Alert Router node mirrors this module; both are held to
 * test/contracts/pii-vectors.json.
 *
 * An allow-list: a value stays plain only under a key known not to be personal (the zip, the
 * owner flag, the source, campaign fields, the processor's own answer fields, a few request
 * headers). Everything else is masked, whatever its key is called: a list of personal keys
 * always misses one (`nick`, `owner`, `kontakt`, `person.given`...). Keys stay, so every field's
 * presence is visible, and so do true/false and null, which cannot tell who someone is.
 */

/** How a value that is not plain is masked. `withheld`: any key not known either way. */
type Mask = 'email' | 'name' | 'phone' | 'street' | 'text' | 'withheld';

const MASKS: Record<Mask, (value: string) => string> = {
	email: maskEmail,
	name: (value) => (value === '' ? '' : `${value.slice(0, 1)}***`),
	phone: (value) => (value.length > 4 ? `***${value.slice(-2)}` : '***'),
	street: () => '***',
	text: (value) => `[${value.length} characters withheld]`,
	withheld: (value) => (value === '' ? '' : '***'),
};

/**
 * Keys whose values are known not to be personal (compared without case, spaces, `_`, `-` or
 * `.`), and any key starting with `utm`. Their text is still scanned for e-mail addresses.
 */
const PLAIN_KEYS = new Set([
	// where, roughly: what the rules and the CRM mapping read
	'zip',
	'zipcode',
	'postcode',
	'postalcode',
	'plz',
	'country',
	'countrycode',
	// the owner flag (not the owner: that is a name)
	'isowner',
	'ishomeowner',
	'homeowner',
	// where the lead came from
	'source',
	'leadsource',
	'campaign',
	'campaignid',
	'campaignname',
	'adgroup',
	'channel',
	'medium',
	'formid',
	'formname',
	'product',
	'producttype',
	'language',
	'locale',
	'consent',
	'optin',
	'idempotencykey',
	'createdat',
	'submittedat',
	// the processor's answers and DLQ outcomes, as the Alert Router receives them
	'status',
	'runid',
	'runstatus',
	'existingstatus',
	'crmid',
	'dlqid',
	'dlqstatus',
	'reason',
	'reasons',
	'missingfields',
	'code',
	'correlationid',
	'outcome',
	'statuscode',
	'retryafter',
	'nextretryat',
	'retrycount',
	// an outcome event as the Lead Outcome Trigger emits it
	'eventid',
	'timestamp',
	'receivedat',
	// an n8n error item
	'id',
	'mode',
	'lastnodeexecuted',
	'retryof',
	// request headers kept for investigation
	'contenttype',
	'contentlength',
	'contentencoding',
	'transferencoding',
	'host',
	'xsource',
	'xcorrelationid',
	'xidempotencykey',
	'xtimestamp',
	'webhookid',
	'webhooktimestamp',
	'xfailafteraccept',
]);
const PLAIN_PREFIX = 'utm';

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

/**
 * What a key says about its value: `plain` (known not personal), a kind of personal data whose
 * mask keeps a hint (an e-mail's domain, a name's initial, a phone's last two digits), or
 * `withheld` (anything else). Compared without case, spaces, `_`, `-` or `.`.
 */
export function maskOf(key: string, value: unknown): Mask | 'plain' {
	const normalized = key.toLowerCase().replace(/[\s_.-]/g, '');
	if (PLAIN_KEYS.has(normalized) || normalized.startsWith(PLAIN_PREFIX)) return 'plain';
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
	// a one-line address; an address object is walked and its fields judged one by one
	if (normalized === 'address' && typeof value === 'string') return 'street';
	if (TEXT_KEYS.has(normalized)) return 'text';
	return 'withheld';
}

/**
 * A copy of any JSON value fit for people to read. Under each key: a plain key's text keeps
 * everything but its e-mail addresses; any other key's text and numbers are masked (a number
 * becomes text: it may be a phone or a house number); true, false and null stay. Objects are
 * walked key by key (a personal kind also masks everything below it), so every field stays
 * visible; keys keep their names with e-mail addresses masked. A value with no key at all (a
 * bare text) keeps everything but its e-mail addresses. A `__proto__` key is dropped (the
 * intake refuses such leads; headers may still carry one).
 */
export function sanitize(value: JsonValue): JsonValue {
	return sanitizeAs(value, 'plain');
}

function sanitizeAs(value: JsonValue, mask: Mask | 'plain'): JsonValue {
	if (typeof value === 'string') return mask === 'plain' ? maskEmailsIn(value) : MASKS[mask](value);
	if (typeof value === 'number') return mask === 'plain' ? value : MASKS[mask](String(value));
	if (Array.isArray(value)) return value.map((item) => sanitizeAs(item, mask));
	if (value === null || typeof value !== 'object') return value;
	const result: JsonObject = {};
	for (const [key, item] of Object.entries(value)) {
		if (key === '__proto__') continue;
		const inherited = mask === 'plain' || mask === 'withheld' ? null : mask;
		result[maskEmailsIn(key)] = sanitizeAs(item, inherited ?? maskOf(key, item));
	}
	return result;
}

/**
 * maskEmailsIn, cut to `maxLength` characters: masking lengthens a short address (a@b becomes
 * a***@b), so text that was checked against a column's limit may no longer fit it.
 */
export function maskEmailsWithin(text: string, maxLength: number): string {
	return [...maskEmailsIn(text)].slice(0, maxLength).join('');
}

/**
 * Every e-mail address in the text masked (`jane@example.com` -> `j***@example.com`). An
 * address is a run of non-separator characters, an `@`, and a run of characters up to the next
 * separator (`jane.local@localhost` is one; `a@b@c.de` is one, masked up to its last `@`).
 * Linear time: each character is looked at no more than twice, whatever the input (a
 * backtracking pattern was quadratic on long text without `@`).
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
		if (start < at) {
			// the domain runs to the next separator; an `@` in it belongs to the address
			while (
				end < text.length &&
				(text.charCodeAt(end) === AT || !isSeparator(text.charCodeAt(end)))
			)
				end++;
		}
		if (start < at && end > at + 1) {
			masked += text.slice(copied, start) + maskEmail(text.slice(start, end));
			copied = end;
			at = text.indexOf('@', end);
		} else {
			at = text.indexOf('@', at + 1);
		}
	}
	return masked + text.slice(copied);
}

const AT = 64;
// @ " ' < > ( ) , ; : and whitespace end an address
const SEPARATOR_CODES = new Set([...'@"\'<>(),;:'].map((char) => char.charCodeAt(0)));

function isSeparator(code: number): boolean {
	if (SEPARATOR_CODES.has(code)) return true;
	if (code === 32 || (code >= 9 && code <= 13)) return true;
	return code > 127 && /\s/.test(String.fromCharCode(code));
}

const HEADER_VALUE_LIMIT = 200;
/** Names of other headers kept (their values masked); a flood of headers does not flood a row. */
const OTHER_HEADERS_LIMIT = 20;

/**
 * The request headers kept with a DLQ entry or a refused request, for investigation: the ones
 * the allow-list names (content type and length, X-Source, X-Correlation-ID, the idempotency key
 * and timestamp headers...) cut short with e-mail addresses masked; of any other header
 * (User-Agent, X-Forwarded-For, signatures, credentials, cookies, whatever a caller invents)
 * only the name, its value `***`, for the first 20 such names.
 */
export function sanitizeHeaders(
	headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
	const result: Record<string, string> = {};
	let others = 0;
	for (const [name, value] of Object.entries(headers)) {
		if (value === undefined || name === '__proto__') continue;
		if (maskOf(name, value) === 'plain') {
			const text = (Array.isArray(value) ? value.join(', ') : value).slice(0, HEADER_VALUE_LIMIT);
			result[name] = maskEmailsIn(text);
		} else if (others++ < OTHER_HEADERS_LIMIT) {
			result[maskEmailsIn(name.slice(0, HEADER_VALUE_LIMIT))] = '***';
		}
	}
	return result;
}
