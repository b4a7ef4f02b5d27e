import { defineTarget, type TaskContext } from '../../src/index.js';

/** The name both the tests and `worker-child.ts` give this target, so rows match. */
export const workerChildTargetName = 'WorkerChild';

/** What the child does around each handler; the enqueuing side passes none. */
export interface WorkerChildHooks {
  /** A handler began a run (before anything else). */
  readonly started?: (ctx: TaskContext) => void;
  /** `side` committed its write together with the success. */
  readonly completed?: (ctx: TaskContext) => void;
  /** Inserts `key` into the side table through the handler's transaction object. */
  readonly insertSide?: (tx: unknown, key: string) => Promise<void>;
  /** A `timed` run ended: when it began and ended (epoch ms, fractional), and its key. */
  readonly timed?: (ctx: TaskContext, key: string, from: number, to: number) => void;
}

/** Epoch milliseconds with a fraction: comparable across processes of one machine. */
const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * The target a worker child performs. `side` writes its key to the side table through
 * `ctx.transaction`; `crash` kills its own process with SIGKILL; `slow` takes `ms` (a handler
 * waiting on I/O); `timed` too, and reports when it ran; `hang` ignores `ctx.signal` and
 * never settles (without holding any handle that would keep the process alive).
 */
export function workerChildTarget(hooks: WorkerChildHooks = {}) {
  return defineTarget(workerChildTargetName, {
    async side(args: { key: string }, ctx: TaskContext): Promise<void> {
      hooks.started?.(ctx);
      const insert = hooks.insertSide;
      if (!insert) throw new Error('WorkerChild.side: no insertSide hook in this process');
      await ctx.transaction((tx) => insert(tx, args.key));
      hooks.completed?.(ctx);
    },
    async crash(_args: { n: number }, ctx: TaskContext): Promise<void> {
      hooks.started?.(ctx);
      process.kill(process.pid, 'SIGKILL');
      await new Promise<never>(() => undefined);
    },
    async slow(args: { ms: number }, ctx: TaskContext): Promise<void> {
      hooks.started?.(ctx);
      await new Promise((resolve) => setTimeout(resolve, args.ms));
    },
    /** Takes `ms`, then reports when it ran (flow control's tests count overlapping runs). */
    async timed(args: { ms: number; key: string }, ctx: TaskContext): Promise<void> {
      const from = preciseNow();
      hooks.started?.(ctx);
      await new Promise((resolve) => setTimeout(resolve, args.ms));
      hooks.timed?.(ctx, args.key, from, preciseNow());
    },
    async hang(_args: { n: number }, ctx: TaskContext): Promise<void> {
      hooks.started?.(ctx);
      await new Promise<never>(() => undefined);
    },
  });
}
