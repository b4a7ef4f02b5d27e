// A user's jest suite on PostgreSQL, importing the built package as 'async-task'. Run by
// jest-runner.test.ts, which gives it a schema of its own (ASYNC_TASK_SCHEMA) and drops it after.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { AsyncTask, defineTarget } from 'async-task';
import { pgDriver } from 'async-task/pg';
import { drain, expectEnqueued } from 'async-task/testing';

const charged = [];
const Billing = defineTarget('Billing', {
  charge(args) {
    charged.push(args.cents);
  },
});

const pool = new pg.Pool({ connectionString: process.env.ASYNC_TASK_POSTGRES_URL, max: 4 });
const tasks = new AsyncTask({
  driver: pgDriver(pool),
  targets: [Billing],
  table: `${process.env.ASYNC_TASK_SCHEMA}.async_task_attempts`,
});

beforeAll(async () => {
  await tasks.migrate();
});

afterAll(async () => {
  await pool.end();
});

test('postgres: expectEnqueued on a committed transaction, then drain runs it', async () => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await tasks.enqueue(client, Billing.charge, { cents: 250 }, { idempotenceToken: 'order-7' });
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await expectEnqueued(tasks, Billing.charge, { args: { cents: 250 } });
  const report = await drain(tasks);
  expect(report.runs.map((run) => run.outcome)).toEqual(['succeeded']);
  expect(charged).toEqual([250]);
});
