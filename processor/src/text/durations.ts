/*
 * Durations and times as people read them in alerts/ (index, follow-ups, daily report).
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A measured duration: `840 ms`, `4.2 s`, `3 min 10 s`, `2 h 5 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
	if (ms < SECOND) return `${Math.round(ms)} ms`;
	if (ms < MINUTE) return `${(ms / SECOND).toFixed(1)} s`;
	if (ms >= HOUR) return formatAge(ms);
	const seconds = Math.floor((ms % MINUTE) / SECOND);
	return `${Math.floor(ms / MINUTE)} min${seconds > 0 ? ` ${seconds} s` : ''}`;
}

/** How long, to the minute: `under a minute`, `3 min`, `2 h 5 min`, `3 d 4 h`. */
export function formatAge(ms: number): string {
	const value = Math.max(0, ms);
	if (value < MINUTE) return 'under a minute';
	if (value < HOUR) return `${Math.floor(value / MINUTE)} min`;
	if (value < DAY) {
		const hours = Math.floor(value / HOUR);
		const minutes = Math.floor((value % HOUR) / MINUTE);
		return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
	}
	const days = Math.floor(value / DAY);
	const hours = Math.floor((value % DAY) / HOUR);
	return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
}

/** `2026-05-01 10:04 UTC` */
export function formatUtcMinute(date: Date): string {
	return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `2026-05-01 10:04:31 UTC` */
export function formatUtcSecond(date: Date): string {
	return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
