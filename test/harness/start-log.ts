// The starts a rate-limited claim records, read where the limit is kept: a trigger copies each row
// the claim writes to the starts table into a log the claim never prunes (it prunes the starts
// older than the window), so a test sees every start at the instant the claim stamped it.
import type { Harness } from './fixture.js';

async function sql(harness: Harness, text: string, returnsRows = false) {
  return harness.driver.run(
    async (connection) => (await connection.query({ name: '', text, returnsRows }, [])).rows,
  );
}

/**
 * Logs every start the claim records; returns a reader of the log: the starts as epoch
 * milliseconds, ascending, of one concurrency key when given one.
 */
export async function logStarts(
  harness: Harness,
  dialect: string,
): Promise<(key?: string) => Promise<number[]>> {
  const starts = `${harness.table}_starts`;
  const schema = harness.table.includes('.') ? `${harness.table.split('.')[0]}.` : '';
  if (dialect === 'postgres') {
    await sql(harness, `CREATE TABLE ${schema}start_log (at timestamptz NOT NULL, k text)`);
    await sql(
      harness,
      `CREATE FUNCTION ${schema}log_start() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO ${schema}start_log VALUES (NEW.started_at, NEW.concurrency_key); RETURN NULL; END $$`,
    );
    await sql(
      harness,
      `CREATE TRIGGER log_start AFTER INSERT ON ${starts} FOR EACH ROW EXECUTE FUNCTION ${schema}log_start()`,
    );
  } else if (dialect === 'mysql') {
    await sql(harness, `CREATE TABLE ${schema}start_log (at DATETIME(3) NOT NULL, k VARCHAR(255))`);
    await sql(
      harness,
      `CREATE TRIGGER ${schema}log_start AFTER INSERT ON ${starts} FOR EACH ROW INSERT INTO ${schema}start_log VALUES (NEW.started_at, NEW.concurrency_key)`,
    );
  } else {
    await sql(harness, `CREATE TABLE start_log (at INTEGER NOT NULL, k TEXT)`);
    await sql(
      harness,
      `CREATE TRIGGER log_start AFTER INSERT ON "${starts}" BEGIN INSERT INTO start_log VALUES (NEW.started_at, NEW.concurrency_key); END`,
    );
  }
  const at =
    dialect === 'postgres'
      ? '(extract(epoch FROM at) * 1000)::float8'
      : dialect === 'mysql'
        ? `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', at) DIV 1000`
        : 'at';
  return async (key) =>
    (await sql(harness, `SELECT ${at} AS at, k FROM ${schema}start_log`, true))
      .filter((row) => key === undefined || row['k'] === key)
      .map((row) => Number(row['at']))
      .sort((a, b) => a - b);
}

/** The most starts in any window [t, t + periodMs) (the claim counts (now - periodMs, now]). */
export function peakInWindow(starts: readonly number[], periodMs: number): number {
  let peak = 0;
  let end = 0;
  for (let i = 0; i < starts.length; i += 1) {
    while (end < starts.length && starts[end]! < starts[i]! + periodMs) end += 1;
    peak = Math.max(peak, end - i);
  }
  return peak;
}
