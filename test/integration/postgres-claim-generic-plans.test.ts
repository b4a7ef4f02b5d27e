// The claim functions run generic plans (migration 21): PL/pgSQL planned their statements again
// on every call, since a generic plan never looked cheaper than a custom one, and a claim of 50
// paid 0.10-0.36 ms of its 1.2-1.8 for it. A custom plan has the function's variables as values
// in its conditions; a generic one has parameters ($n). The plans themselves (the same either
// way) are postgres-plans.test.ts's, postgres-flow-claim-cost.test.ts's and the claim tests'.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { explainNested } from '../harness/claim-reads.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

describe('postgres: the claim functions', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('plan their statements once, generically, from the first call of a session', async () => {
    // One connection: the session auto_explain reports on is the claims'.
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { mail: { concurrency: 10 } },
    });
    await tasks.migrate();
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: 30 }, (_, i) => ({
          method: Noop.run,
          args: { i },
          options: { queue: ['default', 'other', 'mail'][i % 3]! },
        })),
      ),
    );
    const notices: string[] = [];
    const client = await harness.pool.connect();
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await explainNested(client, false);
    client.release();
    const params = { lockedBy: 'w', limit: 5, leaseMs: 60_000, horizon: null, durable: false };
    const flow = tasks.runtime.flows.get('mail')!;
    const claims = {
      claim_due: { ...params, queues: null },
      claim_queues: { ...params, queues: ['default', 'other'] },
    };
    for (const [name, claim] of Object.entries(claims)) {
      notices.length = 0;
      const result = await harness.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaim(claim),
      );
      expect(result.records, name).toHaveLength(5);
      const update = notices.find((text) => /Query Text: UPDATE /.test(text));
      expect(update, `${name}: ${notices.join('\n---\n')}`).toMatch(/Index Cond: [^\n]*\$\d+/);
    }
    notices.length = 0;
    const limited = await harness.driver.run((connection) =>
      tasks.runtime.executor(connection).attemptClaimLimited({ ...params, flow }),
    );
    expect(limited.records).toHaveLength(5);
    const look = notices.find((text) => /Query Text: v_ids := ARRAY\(/.test(text));
    expect(look, notices.join('\n---\n')).toMatch(/Index Cond: [^\n]*\$\d+/);
  }, 60_000);
});
