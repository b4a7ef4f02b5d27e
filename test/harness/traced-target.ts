import { defineTarget, type TaskContext } from '../../src/index.js';

/**
 * The target of the cross-process telemetry test: `{ n: 0 }` writes through `ctx.transaction`
 * (its span is checked); the rest return at once, so a thousand runs stay quick.
 */
export const tracedTarget = defineTarget('Traced', {
  async note(args: { n: number }, ctx: TaskContext) {
    if (args.n === 0) await ctx.transaction(() => Promise.resolve());
  },
});
