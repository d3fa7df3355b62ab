import { isUtf8 } from 'node:buffer';

/**
 * A header's text as the client meant it. Node reads header bytes as Latin-1, so a name sent as
 * UTF-8 (what curl and most clients send for "Jürgen") would be stored as "JÃ¼rgen". Bytes that
 * are valid UTF-8 are read as UTF-8; anything else stays Latin-1 (a lone 0xFC is "ü" there).
 */
export function headerText(value: string | undefined): string | undefined {
	if (value === undefined) return undefined;
	const bytes = Buffer.from(value, 'latin1');
	return isUtf8(bytes) ? bytes.toString('utf8') : value;
}
