import { parseAlertFileName } from '../../src/incidents/alert-files.js';
import { ledgerLine, retentionLine, type LedgerSummary } from '../../src/kpi/report.js';
import { formatAge, formatDuration } from '../../src/text/durations.js';

const RUN = '6f1c2a9e-0000-4000-8000-000000000001';

test('alert file names: run ids (with a copy suffix), n8n execution ids, anything else ignored', () => {
	expect(parseAlertFileName(`20261123T061502Z_${RUN}.json`)).toEqual({
		name: `20261123T061502Z_${RUN}.json`,
		at: new Date('2026-11-23T06:15:02Z'),
		id: RUN,
		isRunId: true,
	});
	expect(parseAlertFileName(`20261123T061502Z_${RUN}-2.json`)).toMatchObject({ id: RUN });
	expect(parseAlertFileName('20261123T061502Z_4711.json')).toMatchObject({
		id: '4711',
		isRunId: false,
	});
	expect(parseAlertFileName('20261123T061502Z_4711-3.json')).toMatchObject({ id: '4711' });
	expect(parseAlertFileName('20261123T061502Z_alert.json')).toMatchObject({ id: 'alert' });
	for (const other of [
		'index.md',
		'kpi_2026-11-23.csv',
		'.index.md.123.ab12cd34.tmp',
		'20261323T061502Z_x.json',
		'20261123T061502Z_.json',
		'20261123T061502Z_../x.json',
	]) {
		expect(parseAlertFileName(other)).toBeNull();
	}
});

const ledger: LedgerSummary = {
	received: 124,
	processed: 100,
	rejected: 10,
	same_person: 4,
	waiting: 5,
	dead: 2,
	resolved_manually: 1,
	superseded: 0,
	queued: 0,
	in_flight: 2,
	erased: 0,
	stuck: 0,
	unaccounted: 0,
	duplicates: 3,
	balanced: true,
};

test('the ledger line says whether every lead is accounted for, or by how much it is not', () => {
	expect(ledgerLine('2026-05-01', ledger)).toEqual({
		verdict: 'balanced',
		text: 'Every lead received on 2026-05-01 is accounted for: 124 received = 100 delivered + 10 rejected + 4 the same person again + 5 waiting for a retry + 2 dead + 1 resolved by hand + 0 queued + 2 in flight (the same request again, counted apart: 3).',
	});
	const off = ledgerLine('2026-05-01', {
		...ledger,
		in_flight: 0,
		stuck: 1,
		unaccounted: 1,
		balanced: false,
	});
	expect(off.verdict).toBe('unbalanced');
	expect(off.text).toMatch(
		/^The ledger does NOT balance for 2026-05-01: 2 of 124 leads are not accounted for \(1 stuck in flight past their lease, 1 unaccounted for\)/,
	);
	expect(ledgerLine('2026-05-01', null)).toEqual({
		verdict: 'unknown',
		text: 'Ledger not computed: this report cannot say whether every lead received on 2026-05-01 is accounted for.',
	});
});

test('durations and ages read like a person would say them', () => {
	expect(formatDuration(840)).toBe('840 ms');
	expect(formatDuration(4_240)).toBe('4.2 s');
	expect(formatDuration(190_000)).toBe('3 min 10 s');
	expect(formatDuration(7_500_000)).toBe('2 h 5 min');
	expect(formatAge(30_000)).toBe('under a minute');
	expect(formatAge(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 d 4 h');
});

test('the daily report says what retention removed that day, in counts only', () => {
	const none = {
		raw_leads_purged: 0,
		runs_anonymised: 0,
		alert_files_deleted: 0,
		refused_requests_cleared: 0,
	};
	expect(retentionLine(none)).toBe('Nothing was past its retention window this day.');
	const some = { raw_leads_purged: 2, runs_anonymised: 1, alert_files_deleted: 3 };
	expect(retentionLine({ ...none, ...some })).toBe(
		'Past their retention window this day: 1 run anonymised (with their events, attempts and DLQ items), 2 raw leads of dead items purged, 3 alert files deleted. The KPI rows keep their counts.',
	);
	expect(retentionLine({ ...none, ...some, refused_requests_cleared: 1 })).toBe(
		'Past their retention window this day: 1 run anonymised (with their events, attempts and DLQ items), 2 raw leads of dead items purged, 3 alert files deleted, the request kept with 1 refused signature cleared. The KPI rows keep their counts.',
	);
});
