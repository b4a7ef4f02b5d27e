import { describe, expect, it } from 'vitest';
import { checkSchedules, dueTicks, maxTicksPerPass, tickToken } from '../../src/core/schedule.js';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { Database } from '../harness/sqlite.js';
import { AsyncTask, ConfigError, defineTarget, SerializationError } from '../../src/index.js';

const iso = (dates: readonly Date[]): string[] => dates.map((date) => date.toISOString());

function one(entry: Record<string, unknown>) {
  return checkSchedules([{ name: 's', cron: '* * * * *', method: null, args: {}, ...entry }])[0]!;
}

describe('checkSchedules', () => {
  it.each([
    [
      { cron: '61 * * * *' },
      /cron "61 \* \* \* \*" is not a valid pattern \(.*minute.*\); write five fields/,
    ],
    [{ cron: '* * * *' }, /is not a valid pattern/],
    [{ cron: 5 }, /cron must be a string such as '0 3 \* \* \*'; got 5/],
    [
      { timezone: 'Mars/Olympus' },
      /timezone must be an IANA time zone such as 'Europe\/Berlin' or 'UTC'; got "Mars\/Olympus"/,
    ],
    [{ name: 'has space' }, /schedules\[0\]\.name must be 1-100 letters, digits or _.:-/],
    [{ name: '' }, /name must be/],
    [{ catchUp: -1 }, /catchUp must be an integer from 0 to 1000; got -1/],
    [{ catchUp: 1.5 }, /catchUp must be an integer/],
    [{ options: { idempotenceToken: 'x' } }, /options\.idempotenceToken is set by each tick/],
    [{ options: { scheduledAt: new Date() } }, /options\.scheduledAt is set by each tick/],
    // Each of these was taken: a schedule that never ran, replace at run time, null as UTC, and
    // a typo answered with a list naming options a schedule refuses.
    [{ cron: '0 0 30 2 *' }, /cron "0 0 30 2 \*" never runs \(no such date from now on/],
    [{ options: { replace: 'pending' } }, /options\.replace does not apply/],
    [{ timezone: null }, /timezone must be an IANA time zone .*; got null/],
    [
      { options: { queu: 'reports' } },
      /^schedule 's': unknown option\(s\) queu \(did you mean queue\?\); the options are encryptor, maxAttempts, queue, priority, concurrencyKey$/,
    ],
  ])('refuses %o with a ConfigError that says what to do', (entry, message) => {
    const attempt = () => one(entry);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('refuses a name used twice, and anything but an array', () => {
    const entry = { name: 'twice', cron: '* * * * *', method: null, args: {} };
    expect(() => checkSchedules([entry, entry])).toThrow(/the name 'twice' is used twice/);
    expect(() => checkSchedules({})).toThrow(/schedules must be an array/);
  });

  it('fills in UTC and a catch-up of one', () => {
    expect(one({})).toMatchObject({ name: 's', timezone: 'UTC', catchUp: 1, options: {} });
  });
});

describe('dueTicks', () => {
  const everyTen = one({ cron: '*/10 * * * * *' });
  const now = new Date('2026-01-01T00:01:00.000Z');

  it('on a first pass: the newest catchUp ticks up to now (now included), oldest first', () => {
    const three = { ...everyTen, catchUp: 3 };
    expect(iso(dueTicks(three, null, now, null))).toEqual([
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:00:50.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    expect(dueTicks({ ...everyTen, catchUp: 0 }, null, now, null)).toEqual([]);
  });

  it('on a first pass: none older than the retention bound', () => {
    const many = { ...everyTen, catchUp: 100 };
    const oldest = new Date('2026-01-01T00:00:35.000Z');
    expect(iso(dueTicks(many, null, now, oldest))).toEqual([
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:00:50.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
  });

  it('while running: every tick after the last pass, however many, up to a cap', () => {
    const after = new Date('2026-01-01T00:00:30.000Z');
    expect(iso(dueTicks(everyTen, after, now, null))).toEqual([
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:00:50.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    const longAgo = new Date('2025-01-01T00:00:00.000Z');
    expect(dueTicks(everyTen, longAgo, now, null)).toHaveLength(maxTicksPerPass);
  });

  // A worker that stalled (or lost its database) longer than the retention enqueued every tick
  // since its last pass: those another worker had run and pruned ran a second time.
  it('while running: none older than the retention bound either', () => {
    const after = new Date('2026-01-01T00:00:00.000Z');
    expect(iso(dueTicks(everyTen, after, now, new Date('2026-01-01T00:00:40.000Z')))).toEqual([
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:00:50.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    expect(iso(dueTicks(everyTen, after, now, new Date('2026-01-01T00:00:41.000Z')))).toEqual([
      '2026-01-01T00:00:50.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    // A bound before the last pass changes nothing.
    expect(dueTicks(everyTen, after, now, new Date('2025-12-31T00:00:00.000Z'))).toHaveLength(6);
  });

  it('runs a tick in a daylight-saving gap once after the gap, and a repeated hour once', () => {
    const berlin = one({ cron: '30 2 * * *', timezone: 'Europe/Berlin', catchUp: 1000 });
    // 2026-03-29: 02:00 → 03:00 in Berlin; 2026-10-25: 03:00 → 02:00.
    const spring = dueTicks(
      berlin,
      new Date('2026-03-27T12:00:00Z'),
      new Date('2026-03-30T12:00:00Z'),
      null,
    );
    expect(iso(spring)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
    const autumn = dueTicks(
      berlin,
      new Date('2026-10-24T12:00:00Z'),
      new Date('2026-10-26T12:00:00Z'),
      null,
    );
    expect(iso(autumn)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('names each tick in its token by schedule and instant', () => {
    expect(tickToken('nightly', new Date('2026-01-01T02:00:00Z'))).toBe(
      'schedule:nightly:2026-01-01T02:00:00.000Z',
    );
  });
});

describe('new AsyncTask({ schedules })', () => {
  const Reports = defineTarget('Reports', { nightly(_args: { day: string }) {} });
  const Other = defineTarget('Other', { run(_args: undefined) {} });
  const driver = betterSqlite3Driver(new Database(':memory:'));

  it('checks what each tick will enqueue at construction', () => {
    expect(
      () =>
        new AsyncTask({
          driver,
          targets: [Reports],
          schedules: [{ name: 'o', cron: '* * * * *', method: Other.run, args: undefined }],
        }),
    ).toThrow(/schedule 'o'.*Other/);
    expect(
      () =>
        new AsyncTask({
          driver,
          targets: [Reports],
          schedules: [
            // @ts-expect-error -- a Date is not JSON
            { name: 'd', cron: '* * * * *', method: Reports.nightly, args: { day: new Date() } },
          ],
        }),
    ).toThrow(SerializationError);
  });
});
