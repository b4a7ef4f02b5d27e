import { Command, InvalidArgumentError, Option } from 'commander';
import type { Attempt } from '../../core/attempt.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { checkQueue } from '../../core/target.js';
import {
  addConnectionOptions,
  addJsonOption,
  integerIn,
  requireUrl,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { describeForCli } from '../errors.js';
import { formatCount, formatDuration } from '../progress.js';
import { printable } from '../format.js';
import {
  describeEncryptors,
  describeLimits,
  describeRetention,
  describeTargets,
  loadTargetsModule,
} from '../targets-module.js';

interface WorkerCommandOptions extends ConnectionOptions, JsonOption {
  readonly targets: string;
  readonly concurrency: number;
  readonly queues?: string[];
  readonly pollInterval: number;
  readonly pollOnly?: boolean;
  readonly durableClaims?: boolean;
  readonly shutdownTimeout: number;
  readonly verbose?: boolean;
}

function queueList(value: string): string[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0)
    throw new InvalidArgumentError('name at least one queue, e.g. default,mail');
  for (const name of names) {
    try {
      checkQueue(name, 'queue');
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  }
  return names;
}

export function workerCommand(): Command {
  const command = new Command('worker')
    .summary('perform due tasks until SIGTERM or Ctrl-C')
    .description(
      'perform due tasks until stopped; SIGTERM or Ctrl-C stops it gracefully (in-flight tasks finish, exit 0)',
    )
    .requiredOption(
      '--targets <module>',
      'JavaScript module exporting `targets` (an array of defineTarget results) or a default array; optional exports `encryptors`, `onError`, `schedules`, `queues`, `retention`, `defaults`, `encryptedTaskErrors` and `telemetry`, as the AsyncTask takes them',
    )
    .addOption(
      new Option('-c, --concurrency <n>', 'handlers running at once (1-10000)')
        .default(10)
        .argParser(integerIn(1, 10_000)),
    )
    .addOption(
      new Option(
        '-q, --queues <names>',
        'comma-separated queues to work (default: every queue)',
      ).argParser(queueList),
    )
    .addOption(
      new Option('--poll-interval <ms>', 'how often to look for due tasks without a notification')
        .default(1000)
        .argParser(integerIn(1, 3_600_000)),
    )
    .option('--poll-only', 'do not LISTEN for new tasks (PgBouncer/Supavisor in transaction mode)')
    .option(
      '--durable-claims',
      'PostgreSQL: each claim waits for its WAL flush, so a database crash cannot forget one',
    )
    .addOption(
      new Option('--shutdown-timeout <ms>', 'how long in-flight tasks may run after a stop signal')
        .default(30_000)
        .argParser(integerIn(0, 86_400_000)),
    )
    .action(async (options: WorkerCommandOptions, cmd: Command) => {
      const verbose = cmd.optsWithGlobals<{ verbose?: boolean }>().verbose === true;
      await runWorker({ ...options, verbose });
    });
  return addJsonOption(
    addConnectionOptions(command),
    'print events as JSON lines (started, retried, failed, rescued, error, stopping, stopped)',
  ).addHelpText(
    'after',
    `
The worker prints a line per retried or failed attempt (JSON lines with
--json) and a summary when it stops. A second SIGTERM or Ctrl-C exits at once;
attempts still running then run again once their leases run out.

Example:
  async-task worker -d postgres://localhost/app --targets dist/tasks.js -c 20`,
  );
}

async function runWorker(options: WorkerCommandOptions): Promise<void> {
  requireUrl(options); // before the module runs any code of its own
  const module = await loadTargetsModule(options.targets);
  const emit = options.json
    ? (event: string, fields: Record<string, unknown>) =>
        process.stdout.write(
          `${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`,
        )
    : undefined;
  // Lines carry stored text (errors, names): escaped so none can fake a line or drive the terminal.
  const say = (line: string): void => {
    process.stdout.write(`${printable(line)}\n`);
  };

  // Signals are caught before the worker starts, so one during start-up still stops it cleanly.
  let requestStop!: (signal: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    requestStop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let abandoned = 0;

  try {
    await withTasks(
      options,
      async (tasks, database) => {
        const worker = tasks.worker({
          concurrency: options.concurrency,
          pollIntervalMs: options.pollInterval,
          ...(options.queues === undefined ? {} : { queues: options.queues }),
          ...(options.pollOnly ? { pollOnly: true } : {}),
          ...(options.durableClaims ? { durableClaims: true } : {}),
        });
        const counts = { succeeded: 0, retried: 0, failed: 0, rescued: 0 };
        const started = performance.now();
        worker.on('succeeded', () => {
          counts.succeeded += 1;
        });
        worker.on('retried', ({ attempt, error, durationMs }) => {
          counts.retried += 1;
          if (emit) emit('retried', eventFields(attempt, error, durationMs));
          else
            say(
              `attempt ${describe(attempt)} failed on run ${attempt.numAttempts} of ${attempt.maxAttempts}; will retry: ${describeError(error)}`,
            );
        });
        worker.on('failed', ({ attempt, error, durationMs }) => {
          counts.failed += 1;
          if (emit) emit('failed', eventFields(attempt, error, durationMs));
          else
            say(
              `attempt ${describe(attempt)} failed for good after ${attempt.numAttempts} run(s): ${describeError(error)}`,
            );
        });
        worker.on('rescued', ({ attempt }) => {
          counts.rescued += 1;
          if (emit)
            emit('rescued', {
              id: attempt.id,
              target: attempt.target,
              method: attempt.methodName,
              status: attempt.status,
            });
          else
            say(`attempt ${describe(attempt)}: its lease ran out; it is ${attempt.status} again`);
        });
        worker.on('error', ({ error, during }) => {
          if (emit) emit('error', { during, error: describeForCli(error) });
          else
            process.stderr.write(
              `async-task: worker ${during} failed (it keeps going): ${describeForCli(error)}\n`,
            );
        });

        await worker.start();
        const queues = options.queues?.join(', ') ?? 'every queue';
        if (emit) {
          emit('started', {
            workerId: worker.id,
            database: database.display,
            table: tasks.table,
            targets: describeTargets(module.targets),
            concurrency: options.concurrency,
            queues: options.queues ?? null,
            limits: module.options.queues ?? {},
            retention: tasks.runtime.retention,
            encryptors: [...tasks.runtime.encryptors.keys()],
          });
        } else {
          say(`async-task worker ${worker.id} started`);
          say(`  database     ${database.display}, table ${tasks.table}`);
          say(`  targets      ${describeTargets(module.targets)}`);
          say(`  concurrency  ${options.concurrency}, ${queues}`);
          const limits = describeLimits(module.options.queues);
          if (limits !== '') say(`  limits       ${limits}`);
          say(`  retention    ${describeRetention(tasks.runtime.retention)}`);
          say(`  encryptors   ${describeEncryptors(tasks.runtime.encryptors)}`);
          say('  stop with Ctrl-C or SIGTERM (in-flight tasks finish first)');
        }

        const signal = await stopRequested;
        // A second signal means "now": leases of attempts still running run out and get rescued.
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        const force = (): void => {
          process.stderr.write(
            'async-task: stopped at once; attempts still running are handed back when their leases run out\n',
          );
          process.exit(1);
        };
        process.once('SIGTERM', force);
        process.once('SIGINT', force);
        if (emit) emit('stopping', { signal, running: worker.running });
        else
          say(
            `${signal}: stopping (waiting up to ${formatDuration(options.shutdownTimeout)} for ${worker.running} running task(s))`,
          );
        await worker.stop({ timeoutMs: options.shutdownTimeout });
        process.off('SIGTERM', force);
        process.off('SIGINT', force);
        // Handlers still running past the timeout were aborted and their attempts handed back,
        // so another worker may start them now: this process must not go on running them.
        abandoned = worker.running;
        const elapsedMs = performance.now() - started;
        if (emit) emit('stopped', { ...counts, elapsedMs: Math.round(elapsedMs) });
        else {
          say(
            `stopped after ${formatDuration(elapsedMs)}: ${formatCount(counts.succeeded)} succeeded, ${formatCount(counts.retried)} retried, ${formatCount(counts.failed)} failed, ${formatCount(counts.rescued)} rescued`,
          );
        }
      },
      {
        open: { connections: options.concurrency + 4 },
        targets: module.targets,
        extra: {
          ...module.options,
          ...(options.verbose ? { logger: stderrLogger } : {}),
        },
      },
    );
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  if (abandoned > 0) {
    const line = `${abandoned} task(s) did not finish within --shutdown-timeout; they were aborted and handed back, and this process exits without waiting for them`;
    if (emit) emit('abandoned', { running: abandoned });
    else say(line);
    process.exit(0);
  }
}

function describe(attempt: Attempt): string {
  return `${attempt.id} (${attempt.target}.${attempt.methodName})`;
}

function eventFields(
  attempt: Attempt,
  error: unknown,
  durationMs: number,
): Record<string, unknown> {
  return {
    id: attempt.id,
    target: attempt.target,
    method: attempt.methodName,
    numAttempts: attempt.numAttempts,
    maxAttempts: attempt.maxAttempts,
    error: describeError(error),
    durationMs: Math.round(durationMs),
  };
}

/** With --verbose: the library's own log lines, as JSON on stderr. */
const stderrLogger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (object: object, message?: string) => {
      process.stderr.write(`${JSON.stringify({ level, msg: message, ...object })}\n`);
    },
  ]),
) as unknown as Logger;
