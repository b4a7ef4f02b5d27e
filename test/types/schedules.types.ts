// Checked by `tsc --noEmit` only (never run): each entry of `schedules` has its args checked
// against its own method, and the options that a tick sets cannot be given.
import type pg from 'pg';
import { AsyncTask, aesGcmEncryptor, defineTarget } from '../../src/index.js';
import { pgDriver } from '../../src/drivers/pg.js';

const Reports = defineTarget('Reports', {
  nightly(args: { day?: string }) {
    return args.day;
  },
  weekly(args: { team: string; week: number }) {
    return args.team + String(args.week);
  },
});

/** Never called: the body only has to type-check. */
export function scheduleTypes(pool: pg.Pool): void {
  // Accepted: each method with its own arguments, enqueue's options, a named encryptor.
  new AsyncTask({
    driver: pgDriver(pool),
    targets: [Reports],
    encryptors: { aes: aesGcmEncryptor({ keys: { k1: new Uint8Array(32) }, current: 'k1' }) },
    schedules: [
      {
        name: 'nightly',
        cron: '0 3 * * *',
        timezone: 'Europe/Berlin',
        method: Reports.nightly,
        args: {},
      },
      {
        name: 'weekly',
        cron: '0 9 * * 1',
        method: Reports.weekly,
        args: { team: 'core', week: 1 },
        options: { queue: 'reports', encryptor: 'aes', maxAttempts: 3 },
        catchUp: 0,
      },
    ],
  });

  new AsyncTask({
    driver: pgDriver(pool),
    targets: [Reports],
    schedules: [
      // @ts-expect-error -- weekly needs { team, week }
      { name: 'weekly', cron: '0 9 * * 1', method: Reports.weekly, args: { team: 'core' } },
    ],
  });

  new AsyncTask({
    driver: pgDriver(pool),
    targets: [Reports],
    schedules: [
      { name: 'nightly', cron: '0 3 * * *', method: Reports.nightly, args: {} },
      // @ts-expect-error -- the second entry is checked against its own method too
      { name: 'weekly', cron: '0 9 * * 1', method: Reports.weekly, args: { team: 1, week: 1 } },
    ],
  });

  new AsyncTask({
    driver: pgDriver(pool),
    targets: [Reports],
    schedules: [
      {
        name: 'nightly',
        cron: '0 3 * * *',
        method: Reports.nightly,
        args: {},
        // @ts-expect-error -- each tick sets its own token
        options: { idempotenceToken: 'x' },
      },
    ],
  });

  new AsyncTask({
    driver: pgDriver(pool),
    targets: [Reports],
    schedules: [
      {
        name: 'n',
        cron: '0 3 * * *',
        method: Reports.nightly,
        args: {},
        // @ts-expect-error -- no encryptor named 'aes' is configured
        options: { encryptor: 'aes' },
      },
    ],
  });
}
