// A fair claim on PostgreSQL (the look by key of migration 14) took each key's first due rows up
// to its room, then ranked them: a claim of 100 from 100 keys at a keyConcurrency of 100 read
// 10,000. Migration 16 takes no key's rows past the first ceil(room / groups) and looks again
// when that falls short. That it claims what ranking every due row claimed is
// test/integration/postgres-key-look.test.ts's (fair cases included); this is what it reads.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { explainNested } from '../harness/claim-reads.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

/** Entries the scans of `index` returned, summed over auto_explain's plans (rows × loops). */
function entriesRead(plans: readonly string[], index: string): number {
  const scan = new RegExp(
    `Index (?:Only )?Scan using ${index}\\b[^\\n]*actual time=[\\d.]+\\.\\.[\\d.]+ rows=(\\d+) loops=(\\d+)`,
    'g',
  );
  return plans
    .flatMap((text) => [...text.matchAll(scan)])
    .reduce((sum, match) => sum + Number(match[1]) * Number(match[2]), 0);
}

describe('postgres fair claim', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  it("reads each key's share, not its room", async () => {
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { fair: { keyConcurrency: 100, fairness: 'key' } },
    });
    await tasks.migrate();
    const table = `"${harness.schema}".async_task_attempts`;
    // 200 of each of 100 keys, round-robin: attempt g (id g) is key g % 100's.
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, concurrency_key)
       SELECT 'Noop', 'run', '{"i":0}', 'fair', 'k' || g % 100 FROM generate_series(1, 20000) g`,
    );
    await harness.pool.query(`VACUUM ANALYZE ${table}`);

    const client = await harness.pool.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    let ids: number[];
    try {
      await explainNested(client, false);
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM "${harness.schema}".async_task_attempts_claim_limited(
           'w1', 100, 60000, NULL, 'fair', NULL, 100, true, NULL, NULL, NULL, false)`,
      );
      ids = rows.map((row) => Number(row.id)).sort((a, b) => a - b);
    } finally {
      client.release();
    }
    // Every key's first.
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // The key walk (a step per key) and each key's first: about 200; 10,100 when each key
    // gave as many as its room (201 and 10,101 measured).
    const read = entriesRead(notices, 'async_task_attempts_queue_key_due_idx');
    const plans = `${read} entries:\n${notices.join('\n---\n')}`;
    expect(read, plans).toBeGreaterThan(0);
    expect(read, plans).toBeLessThan(1000);
  });
});
