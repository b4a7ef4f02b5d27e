// A user's code, checked twice: by `npm run typecheck` against the sources, and by
// consumer-types.test.ts against the emitted .d.ts (imported as 'async-task') with TypeScript 5.0,
// the oldest we support, and with the current one. Every `@ts-expect-error` must meet an error on
// the next line, and that test also checks what the error says.
import {
  AsyncTask,
  defineTarget,
  type Driver,
  type QueueFlowOptions,
  type RateLimitOptions,
  type TaskContext,
  type TaskMethod,
} from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';

interface Tx {
  query(sql: string): Promise<unknown>;
}

const Shop = defineTarget('Shop', {
  async order(args: { id: number; note?: string; tags: readonly string[] }, ctx: TaskContext<Tx>) {
    await ctx.transaction((tx) => tx.query(`-- order ${args.id}`));
  },
  nightly() {},
  cancel(args?: { id: number }) {
    return args?.id;
  },
  relay(args: { payload: unknown }) {
    return args.payload;
  },
  remind(args: { at: Date }) {
    return args.at;
  },
  index(args: { byName: Map<string, number> }) {
    return args.byName;
  },
  notify(args: { done: () => void }) {
    args.done();
  },
  pick(args: { ids: (number | undefined)[] }) {
    return args.ids;
  },
  charge(args: { cents: bigint }) {
    return args.cents;
  },
});

class Mailer {
  static send(args: { to: string }): void {
    void args;
  }
}
const MailTarget = defineTarget('Mailer', Mailer);

/** Never called: the body only has to type-check. */
export async function consumer(tasks: AsyncTask<Tx>, tx: Tx): Promise<void> {
  // Accepted.
  await tasks.enqueue(tx, Shop.order, { id: 1, tags: [] });
  await tasks.enqueue(tx, Shop.order, { id: 1, note: 'gift', tags: ['a'] }, { queue: 'shop' });
  await tasks.enqueue(tx, Shop.nightly);
  await tasks.enqueue(tx, Shop.nightly, undefined, { queue: 'nightly' });
  await tasks.enqueue(tx, Shop.cancel);
  await tasks.enqueue(tx, Shop.cancel, { id: 1 });
  await tasks.enqueue(tx, Shop.cancel, undefined);
  await tasks.enqueue(tx, Shop.relay, { payload: { anything: [1, 'two', null] } });
  await tasks.enqueue(tx, MailTarget.send, { to: 'a@example.com' });
  const send: TaskMethod<{ to: string }> = MailTarget.send;
  await tasks.enqueue(tx, send, { to: 'b@example.com' });
  await tasks.enqueueMany(tx, [
    { method: Shop.nightly },
    { method: Shop.order, args: { id: 2, tags: [] } },
    { method: MailTarget.send, args: { to: 'c@example.com' }, options: { priority: 1 } },
  ]);

  // Refused: arguments that do not fit the method.
  // @ts-expect-error id must be a number
  await tasks.enqueue(tx, Shop.order, { id: '1', tags: [] });
  // @ts-expect-error tags is missing
  await tasks.enqueue(tx, Shop.order, { id: 1 });
  // @ts-expect-error an unknown property
  await tasks.enqueue(tx, Shop.order, { id: 1, tags: [], extra: true });
  // @ts-expect-error the arguments of another method
  await tasks.enqueue(tx, MailTarget.send, { id: 1, tags: [] });
  // @ts-expect-error a method with no parameters takes no arguments
  await tasks.enqueue(tx, Shop.nightly, { day: 1 });
  // @ts-expect-error a method with no parameters takes no arguments, not even a number
  await tasks.enqueue(tx, Shop.nightly, 1);
  // @ts-expect-error a method with required parameters needs its arguments
  await tasks.enqueue(tx, Shop.order);
  await tasks.enqueueMany(tx, [
    { method: MailTarget.send, args: { to: 'd@example.com' } },
    // @ts-expect-error each item's arguments are checked against its own method
    { method: Shop.order, args: { to: 'd@example.com' } },
  ]);
  await tasks.enqueueMany(tx, [
    { method: Shop.nightly },
    // @ts-expect-error an item whose method has required parameters needs its arguments
    { method: Shop.order },
  ]);

  // Debounce: replace names the pending attempt to replace by its token, so it needs one.
  const digest = { idempotenceToken: 'digest-1', replace: 'pending' } as const;
  await tasks.enqueue(tx, MailTarget.send, { to: 'a@example.com' }, digest);
  await tasks.enqueueMany(tx, [{ method: MailTarget.send, args: { to: 'a' }, options: digest }]);
  // @ts-expect-error replace without an idempotenceToken
  await tasks.enqueue(tx, MailTarget.send, { to: 'a@example.com' }, { replace: 'pending' });
  await tasks.enqueueMany(tx, [
    // @ts-expect-error replace without an idempotenceToken, in enqueueMany
    { method: MailTarget.send, args: { to: 'a' }, options: { replace: 'pending' } },
  ]);
  const maybeToken: string | undefined = undefined;
  const maybe = { idempotenceToken: maybeToken, replace: 'pending' } as const;
  // @ts-expect-error replace with a token that may be undefined
  await tasks.enqueue(tx, MailTarget.send, { to: 'a@example.com' }, maybe);

  // Refused: a function that is not a method of a target made by defineTarget.
  const plain = (args: { to: string }): void => void args;
  // @ts-expect-error plain function: madeByDefineTarget
  await tasks.enqueue(tx, plain, { to: 'a@example.com' });
  // @ts-expect-error plain function: madeByDefineTarget (enqueue MailTarget.send, the value defineTarget returns)
  await tasks.enqueue(tx, Mailer.send, { to: 'a@example.com' }); // eslint-disable-line @typescript-eslint/unbound-method
  // @ts-expect-error plain function: madeByDefineTarget
  await tasks.enqueueMany(tx, [{ method: plain, args: { to: 'a@example.com' } }]);

  // Refused: arguments JSON cannot carry.
  // @ts-expect-error not JSON: a Date
  await tasks.enqueue(tx, Shop.remind, { at: new Date() });
  // @ts-expect-error not JSON: a Map
  await tasks.enqueue(tx, Shop.index, { byName: new Map([['a', 1]]) });
  // @ts-expect-error not JSON: a function
  await tasks.enqueue(tx, Shop.notify, { done: () => undefined });
  // @ts-expect-error not JSON: undefined in an array
  await tasks.enqueue(tx, Shop.pick, { ids: [1, undefined] });
  // @ts-expect-error not JSON: a bigint
  await tasks.enqueue(tx, Shop.charge, { cents: 100n });
  // @ts-expect-error not JSON: a Date, in enqueueMany
  await tasks.enqueueMany(tx, [{ method: Shop.remind, args: { at: new Date() } }]);

  // Worker events are typed, through @types/node's EventEmitter<WorkerEvents>.
  const worker = tasks.worker({ concurrency: 2 });
  worker.on('failed', ({ attempt, error }) => void [attempt.id, error]);
  // @ts-expect-error a 'failed' event carries no count
  worker.on('failed', ({ count }) => void count);
}

/** Never called: each recurring task's arguments are checked against its own method. */
export function scheduled(driver: Driver<Tx, Tx>): AsyncTask<Tx>[] {
  const accepted = new AsyncTask({
    driver,
    targets: [Shop, MailTarget],
    schedules: [
      { name: 'orders', cron: '0 3 * * *', method: Shop.order, args: { id: 1, tags: [] } },
      { name: 'mail', cron: '0 4 * * *', method: MailTarget.send, args: { to: 'a@example.com' } },
      { name: 'nightly', cron: '0 5 * * *', method: Shop.nightly, args: undefined },
      { name: 'nightly-bare', cron: '0 5 * * *', method: Shop.nightly },
    ],
  });
  const refused = new AsyncTask({
    driver,
    targets: [Shop, MailTarget],
    schedules: [
      { name: 'orders', cron: '0 3 * * *', method: Shop.order, args: { id: 1, tags: [] } },
      // @ts-expect-error the arguments of another method
      { name: 'mail', cron: '0 4 * * *', method: MailTarget.send, args: { id: 1, tags: [] } },
      // @ts-expect-error a schedule of a method with required parameters needs its arguments
      { name: 'order', cron: '0 7 * * *', method: Shop.order },
      // @ts-expect-error a schedule of a method with no parameters takes no arguments
      { name: 'nightly', cron: '0 8 * * *', method: Shop.nightly, args: 1 },
      // @ts-expect-error not JSON: a Date, in a schedule
      { name: 'remind', cron: '0 6 * * *', method: Shop.remind, args: { at: new Date() } },
    ],
  });
  return [accepted, refused];
}

/** Never called: a queue's flow control can be named and built apart from the AsyncTask. */
export function flowControlled(driver: Driver<Tx, Tx>): AsyncTask<Tx> {
  const perRecipient: RateLimitOptions = { limit: 1, periodMs: 60_000, perKey: true };
  const mail: QueueFlowOptions = { concurrency: 5, rateLimit: perRecipient };
  // @ts-expect-error fairness is by key or not at all
  const unfair: QueueFlowOptions = { fairness: 'queue' };
  return new AsyncTask({ driver, targets: [Shop], queues: { mail, push: unfair } });
}

/** Never called: telemetry from async-task/opentelemetry is what the AsyncTask takes. */
export function traced(driver: Driver<Tx, Tx>): AsyncTask<Tx>[] {
  // @ts-expect-error queueDepthCacheMs is a number of milliseconds
  void openTelemetry({ queueDepthCacheMs: '5s' });
  return [
    new AsyncTask({ driver, targets: [Shop], telemetry: openTelemetry() }),
    new AsyncTask({
      driver,
      targets: [Shop],
      telemetry: openTelemetry({ queueDepthCacheMs: 5_000 }),
    }),
    // @ts-expect-error openTelemetry itself, not what it returns
    new AsyncTask({ driver, targets: [Shop], telemetry: openTelemetry }),
  ];
}
