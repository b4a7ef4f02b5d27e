// A worker's LISTEN holds one connection of a pg.Pool for as long as it runs. On a pool of
// `max: 1` that left none for anything else: start() never resolved (its registration waited for
// a second connection) and the application's own pool.connect() waited forever, with nothing
// said. start() now refuses such a pool at once, says what to change, and holds nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, ConfigError, defineTarget } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { postgresHarness } from '../harness/postgres.js';
import { waitFor } from '../harness/wait-for.js';

describe('a worker on a pg pool of one connection', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('refuses to LISTEN on it, holds no connection, and runs tasks with pollOnly', async () => {
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    let ran = 0;
    const Count = defineTarget('Count', {
      run(_args: { n: number }) {
        ran += 1;
      },
    });
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Count] });
    await tasks.migrate();

    const worker = tasks.worker();
    const error = await caught(worker.start());
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG');
    expect((error as Error).message).toMatch(/max: 1\b.*max: 2 or more.*pollOnly: true/);
    // Nothing half-started: the connection is back in the pool, and stop() has nothing to do.
    expect(harness.pool.totalCount - harness.pool.idleCount).toBe(0);
    await worker.stop();

    await harness.transaction((tx) => tasks.enqueue(tx, Count.run, { n: 1 }));
    const polling = tasks.worker({ pollOnly: true, pollIntervalMs: 50 });
    await polling.start();
    closers.push(() => polling.stop());
    await waitFor('the task to run on the polling worker', () => ran === 1);
  }, 15_000);
});
