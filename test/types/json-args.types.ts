// Checked by `tsc --noEmit` only (never run): arguments typed with a recursive JSON type compile
// (their check once never ended: TS2589, "excessively deep"), and what JSON cannot carry is still
// refused within the levels checked at compile time.
import type pg from 'pg';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { pgDriver } from '../../src/drivers/pg.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
interface JsonObject {
  [key: string]: JsonValue;
}
type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

const Webhooks = defineTarget('Webhooks', {
  deliver(args: { url: string; payload: Json }) {
    void args;
  },
  relay(args: { payload: JsonValue; copies: JsonValue[] }) {
    void args;
  },
  deep(args: { a: { b: { c: { d: { when: Date } } } } }) {
    void args;
  },
});

/** Never called: the body only has to type-check. */
export async function jsonArgsTypes(pool: pg.Pool, payload: Json, value: JsonValue): Promise<void> {
  const tasks = new AsyncTask({ driver: pgDriver(pool), targets: [Webhooks] });
  await tasks.enqueue(pool, Webhooks.deliver, { url: 'https://example.com/hook', payload });
  await tasks.enqueue(pool, Webhooks.relay, { payload: value, copies: [value, value] });
  await tasks.enqueueMany(pool, [
    { method: Webhooks.deliver, args: { url: 'https://example.com/a', payload: { n: [1, 'x'] } } },
  ]);
  await tasks.enqueue(pool, Webhooks.deep, {
    // @ts-expect-error a Date five levels down is still refused
    a: { b: { c: { d: { when: new Date() } } } },
  });
}
