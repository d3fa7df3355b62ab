/** Text Postgres can store: no NUL, no unpaired UTF-16 surrogate (text and jsonb refuse both). */
export function isStorableText(text: string): boolean {
	return !text.includes('\u0000') && (text as string & { isWellFormed(): boolean }).isWellFormed();
}
