/** `"a", "b", "c" and 2 more`: unknown parameters named in an answer's detail, a few at most. */
export function nameSome(names: readonly string[]): string {
	const named = names.slice(0, 3).map((name) => `"${name}"`);
	return `${named.join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
}
