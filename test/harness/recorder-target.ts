import { defineTarget, type TaskContext } from '../../src/index.js';

/** The name both the tests and the child processes give the recorder, so rows match. */
export const recorderTargetName = 'ConformanceRecorder';

/** A target whose one method reports the id of each attempt it performs. */
export function recorderTarget(onRun: (id: string, args: { n: number }) => void) {
  return defineTarget(recorderTargetName, {
    record(args: { n: number }, ctx: TaskContext): void {
      onRun(ctx.attempt.id, args);
    },
  });
}
