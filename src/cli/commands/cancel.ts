import { Command } from 'commander';
import {
  addConnectionOptions,
  addJsonOption,
  attemptId,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { CliError } from '../errors.js';
import { attemptJson } from '../format.js';

/**
 * `async-task cancel <id>`: a pending attempt expires at once; a running one is asked to stop
 * (its worker aborts the handler's signal and records it expired). Nothing to cancel (finished,
 * or no such attempt) exits 1 with one line, like a transition the attempt's status refuses;
 * with --json the result is printed first either way.
 */
export function cancelCommand(): Command {
  const command = new Command('cancel')
    .summary('cancel a pending or running attempt')
    .description(
      'cancel an attempt: a pending one is marked expired at once and never runs; a running one has its handler’s ctx.signal aborted (within about a second) and is marked expired when the handler ends',
    )
    .argument('<id>', 'the attempt id', attemptId)
    .action(async (id: string, options: ConnectionOptions & JsonOption) => {
      const result = await withTasks(options, (tasks) => tasks.cancel(id));
      const { outcome, attempt } = result;
      if (options.json) {
        outJson({ outcome, attempt: attempt === null ? null : attemptJson(attempt) });
      }
      if (outcome === 'not-found')
        throw new CliError(`cannot cancel attempt ${id}: no such attempt`);
      const name = `attempt ${attempt.id} (${attempt.target}.${attempt.methodName})`;
      if (outcome === 'finished') {
        throw new CliError(`cannot cancel ${name}: it has already ended (${attempt.status})`);
      }
      if (options.json) return;
      out(
        outcome === 'cancelled'
          ? `${name} was pending and is now expired (Cancelled)`
          : `${name} is running: cancel requested; its worker stops it and records it expired`,
      );
    });
  return addJsonOption(addConnectionOptions(command));
}
