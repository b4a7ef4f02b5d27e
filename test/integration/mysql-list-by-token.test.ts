// `list` by an idempotence token with its target and method on MySQL/MariaDB: the token and
// method columns have no index of their own (the unique index is on a hash of the three), so the
// filter walked the whole table by primary key: 2.5 s at 1,000,000 rows, from the API, the CLI
// and the dashboard. It is looked up through the hash's unique index now.
import type { RowDataPacket } from 'mysql2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { mysqlHarness } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';

const Orders = defineTarget('Orders', { fulfil(_args: { n: number }) {} });
const rows = 20_000;

describe('mysql list by token', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;

  beforeEach(async () => {
    // One connection: the list's session is the one whose counters are read.
    harness = await mysqlHarness({ max: 1 });
  });

  afterEach(async () => {
    await harness.close();
  });

  it(`reads a handful of index entries of ${rows.toLocaleString('en')}, not the table`, async () => {
    const tasks = await migratedTasks(harness, { targets: [Orders] });
    const table = `\`${harness.database}\`.async_task_attempts`;
    await harness.pool.query('SET SESSION max_recursive_iterations = 100000');
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, idempotence_token, status)
       WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?)
       SELECT 'Orders', 'fulfil', '{"n":1}', CONCAT('bestellung-ö-', n), 'succeeded' FROM s`,
      [rows],
    );
    await harness.pool.query(`ANALYZE TABLE ${table}`);
    const reads = async (): Promise<number> => {
      const [status] = await harness.pool.query<({ Value: string } & RowDataPacket)[]>(
        `SHOW SESSION STATUS LIKE 'Handler_read%'`,
      );
      return status.reduce((sum, row) => sum + Number(row.Value), 0);
    };

    const before = await reads();
    const found = await tasks.list({
      target: 'Orders',
      methodName: 'fulfil',
      idempotenceToken: 'bestellung-ö-123',
    });
    const read = (await reads()) - before;
    expect(found.map((attempt) => attempt.idempotenceToken)).toEqual(['bestellung-ö-123']);
    expect(read).toBeLessThan(50);
    // The other filters still apply beside the key; a token differing by a trailing space is
    // another token.
    expect(
      await tasks.list({
        target: 'Orders',
        methodName: 'fulfil',
        idempotenceToken: 'bestellung-ö-123',
        status: 'failed',
      }),
    ).toEqual([]);
    expect(
      await tasks.list({
        target: 'Orders',
        methodName: 'fulfil',
        idempotenceToken: 'bestellung-ö-123 ',
      }),
    ).toEqual([]);
  });
});
