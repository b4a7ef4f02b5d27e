// Child of test/integration/sqlite-promise-hooks.test.ts: a fresh process (no test runner's own
// async context) that drains tasks through one SQLite fixture's driver (argv[2], its label), then
// reports whether promise hooks are on (an async id per promise continuation) after plain runs
// and after handlers' ctx.transaction.
import { executionAsyncId } from 'node:async_hooks';
import { defineTarget, type TaskContext } from '../../src/index.js';
import type { DialectFixture } from './fixture.js';
import { sqliteKnexFixture } from './knex.js';
import { sqliteKyselyFixture } from './kysely.js';
import { migratedTasks } from './new-tasks.js';
import { sqlitePrismaFixture } from './prisma.js';
import { sqliteFixture } from './sqlite.js';

/** Async ids seen after two awaits: all 0 while no promise hook is installed. */
async function promiseAsyncIds(): Promise<number[]> {
  const ids = [executionAsyncId()];
  await Promise.resolve();
  ids.push(executionAsyncId());
  await Promise.resolve();
  ids.push(executionAsyncId());
  return ids;
}

const fixtures: readonly DialectFixture[] = [
  sqliteFixture,
  sqliteKnexFixture,
  sqliteKyselyFixture,
  sqlitePrismaFixture,
];
const fixture = fixtures.find(({ label }) => label === process.argv[2]);
if (!fixture) throw new Error(`no SQLite fixture ${process.argv[2]}`);
const harness = await fixture.setup();
const Work = defineTarget('Work', {
  noop(_args: { n: number }) {},
  write(args: { n: number }, ctx: TaskContext) {
    return ctx.transaction((tx) => harness.insertSide(tx, `note-${args.n}`));
  },
});
try {
  const tasks = await migratedTasks(harness, { targets: [Work] });
  await harness.createSideTable();
  await tasks.enqueueMany(
    harness.pool,
    Array.from({ length: 200 }, (_, n) => ({ method: Work.noop, args: { n } })),
  );
  const plain = await tasks.runDue();
  const afterPlain = await promiseAsyncIds();
  await tasks.enqueueMany(
    harness.pool,
    Array.from({ length: 20 }, (_, n) => ({ method: Work.write, args: { n } })),
  );
  const transactional = await tasks.runDue();
  const afterTransactions = await promiseAsyncIds();
  process.stdout.write(
    JSON.stringify({
      succeeded: plain.succeeded + transactional.succeeded,
      notes: (await harness.sideKeys()).length,
      afterPlain,
      afterTransactions,
    }) + '\n',
  );
} finally {
  await harness.close();
}
