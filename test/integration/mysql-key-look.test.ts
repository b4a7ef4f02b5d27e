// A keyed queue's look past its busy keys on MySQL/MariaDB ranks every due attempt of the queue
// by key in temporary tables. Keyed by the key itself, each row took the VARCHAR(255)'s full
// 1,020 bytes in MariaDB's in-memory temporary tables, so past about 15,000 due rows every such
// claim spilled them to disk (0.9-1.2 s per claim at 100,000); keyed by a digest they stay in
// memory. A first look that falls short is followed by a look by key (migration 0008), which
// reads one index entry per key with pending attempts and each free key's first due ones; before
// it, by looks twice as wide, then one at every due attempt (300-1,000 ms at 200,000 over 1,000
// keys). Correctness of keyed claims is
// test/conformance/flow-control.test.ts's.
import type { RowDataPacket } from 'mysql2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { keyedTasks } from '../harness/keyed-tasks.js';
import { mysqlEntriesRead } from '../harness/claim-reads.js';
import { mysqlHarness } from '../harness/mysql.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });
const keys = 1000;
const due = 30_000;
const busyKeys = 600;

describe('mysql keyed claim past busy keys', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;

  beforeEach(async () => {
    // One connection: the claim's session is the one whose counters are read.
    harness = await mysqlHarness({ max: 1 });
  });

  afterEach(async () => {
    await harness.close();
  });

  it('ranks the due attempts of 30,000 in memory', async () => {
    const tasks = await keyedTasks(harness, Noop);
    for (let from = 0; from < due; from += 1000) {
      await harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 1000 }, (_, j) => ({
            method: Noop.run,
            args: { i: from + j },
            options: { queue: 'keyed', concurrencyKey: `customer-${(from + j) % keys}` },
          })),
        ),
      );
    }
    const table = `\`${harness.database}\`.async_task_attempts`;
    // The first attempt of 600 keys runs elsewhere: those keys are at their limit.
    await harness.pool.query(
      `UPDATE ${table} SET status = 'running', num_attempts = 1, locked_by = 'elsewhere',
         locked_until = UTC_TIMESTAMP(3) + INTERVAL 1 HOUR
       WHERE id <= ?`,
      [busyKeys],
    );
    await harness.pool.query(`ANALYZE TABLE ${table}`);

    const spills = async (): Promise<number> => {
      const [rows] = await harness.pool.query<({ Value: string } & RowDataPacket)[]>(
        `SHOW SESSION STATUS LIKE 'Created_tmp_disk_tables'`,
      );
      return Number(rows[0]!.Value);
    };
    const flow = tasks.runtime.flows.get('keyed')!;
    const before = await spills();
    // One claim: its first look sees the 400 free keys; short of its 1,000, it looks past the rest.
    const claimed = await harness.driver.run((connection) =>
      tasks.runtime.executor(connection).attemptClaimLimited({
        lockedBy: 'here',
        limit: 1000,
        leaseMs: 60_000,
        horizon: null,
        durable: false,
        flow,
      }),
    );
    const spilled = (await spills()) - before;
    expect(claimed.records).toHaveLength(keys - busyKeys);
    expect(spilled).toBe(0);
  }, 60_000);

  it('finds free keys behind 2,900 attempts of busy keys without reading the 33,000 due', async () => {
    const tasks = await keyedTasks(harness, Noop);
    const enqueue = (count: number, key: (i: number) => string) =>
      harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: count }, (_, i) => ({
            method: Noop.run,
            args: { i },
            options: { queue: 'keyed', concurrencyKey: key(i) },
          })),
        ),
      );
    // First in due order: 30 attempts of each of 100 keys, then 30 of each of 1,000 others.
    await enqueue(3000, (i) => `busy-${i % 100}`);
    for (let from = 0; from < 30_000; from += 3000) {
      await enqueue(3000, (i) => `free-${i % keys}`);
    }
    const table = `\`${harness.database}\`.async_task_attempts`;
    // The first attempt of each busy key runs elsewhere.
    await harness.pool.query(
      `UPDATE ${table} SET status = 'running', num_attempts = 1, locked_by = 'elsewhere',
         locked_until = UTC_TIMESTAMP(3) + INTERVAL 1 HOUR
       WHERE id <= 100`,
    );
    await harness.pool.query(`ANALYZE TABLE ${table}`);
    const flow = tasks.runtime.flows.get('keyed')!;

    const before = await mysqlEntriesRead(harness.pool);
    // The first look (656 due attempts) sees only busy keys; the look by key then walks the
    // 1,100 keys and takes each free one's first.
    const claimed = await harness.driver.run((connection) =>
      tasks.runtime.executor(connection).attemptClaimLimited({
        lockedBy: 'here',
        limit: 100,
        leaseMs: 60_000,
        horizon: null,
        durable: false,
        flow,
      }),
    );
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    // The first attempts of the first 100 free keys, as a read of every due attempt takes them.
    expect(claimed.records.map((record) => Number(record.id))).toEqual(
      Array.from({ length: 100 }, (_, i) => 3001 + i),
    );
    expect(claimed.exhausted).toBe(false);
    // Index entries read and conditions pushed to the index: 9,700 here; 20,500 when the looks
    // widened by due order (656, 1,312, 2,624, 5,248), 67,500 when the second look read every due
    // attempt.
    expect(read).toBeLessThan(15_000);
  }, 60_000);
});
