import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AsyncTaskOptions } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import type { Retention } from '../core/retention.js';
import { targetDefinition, type Target } from '../core/target.js';
import type { ErrorHook } from '../worker/runtime.js';
import { CliError } from './errors.js';

/** What `worker --targets <module>` (and `schedules`, `dashboard`) take from the module. */
export interface TargetsModule {
  readonly targets: readonly Target[];
  /** Optional export `encryptors`: needed to perform attempts stored encrypted. */
  readonly encryptors?: Readonly<Record<string, Encryptor>>;
  /** Optional export `onError`: called when a handler throws. */
  readonly onError?: ErrorHook;
  /** Optional export `schedules`: the recurring tasks the worker enqueues (checked by AsyncTask). */
  readonly schedules?: ModuleSchedules;
  /**
   * Optional export `queues`: the flow control of the application's AsyncTask (checked by
   * AsyncTask). Without it a worker claims every queue without limits.
   */
  readonly queues?: ModuleQueues;
  /** Optional export `retention`: how long the worker keeps finished attempts (as AsyncTask's). */
  readonly retention?: ModuleOptions['retention'];
  /** Optional export `defaults`: the enqueue defaults of the schedules' ticks (as AsyncTask's). */
  readonly defaults?: ModuleOptions['defaults'];
}

type ModuleOptions = AsyncTaskOptions<unknown, unknown, Record<string, Encryptor>>;
type ModuleSchedules = NonNullable<ModuleOptions['schedules']>;
type ModuleQueues = NonNullable<ModuleOptions['queues']>;

/**
 * Imports the module at `path` (relative to the current directory) and reads its targets: a
 * named export `targets`, or a default export that is an array of targets (or an object with
 * `targets`). Optional named exports `encryptors`, `onError`, `schedules`, `queues`, `retention`
 * and `defaults` are passed to the AsyncTask, which checks them.
 */
export async function loadTargetsModule(path: string): Promise<TargetsModule> {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`the targets module ${file} does not exist`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new CliError(
        `node cannot import ${file} as it is; compile it to JavaScript, or run the CLI with a loader: NODE_OPTIONS='--import tsx' async-task worker …`,
      );
    }
    throw new CliError(`could not load the targets module ${file}`, { cause: error });
  }
  const fallback = module['default'];
  const targets =
    module['targets'] ??
    (Array.isArray(fallback) ? fallback : (fallback as { targets?: unknown } | null)?.['targets']);
  const from = (fallback as Record<string, unknown> | null | undefined) ?? {};
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new CliError(
      `the targets module ${file} exports no targets: export \`targets\`, a non-empty array of defineTarget(…) results (or make that array the default export)`,
    );
  }
  targets.forEach((target, index) => {
    if (!targetDefinition(target)) {
      throw new CliError(
        `the targets module ${file}: targets[${index}] was not made with defineTarget(name, methods)`,
      );
    }
  });
  const encryptors = module['encryptors'] ?? from['encryptors'];
  const onError = module['onError'] ?? from['onError'];
  const schedules = module['schedules'] ?? from['schedules'];
  const queues = module['queues'] ?? from['queues'];
  const retention = module['retention'] ?? from['retention'];
  const defaults = module['defaults'] ?? from['defaults'];
  if (schedules !== undefined && !Array.isArray(schedules)) {
    throw new CliError(
      `the targets module ${file}: \`schedules\` must be an array of { name, cron, method, args }`,
    );
  }
  if (
    queues !== undefined &&
    (typeof queues !== 'object' || queues === null || Array.isArray(queues))
  ) {
    throw new CliError(
      `the targets module ${file}: \`queues\` must be an object of queue names to their limits, e.g. { mail: { concurrency: 10 } }`,
    );
  }
  if (retention !== undefined && retention !== false && !isObject(retention)) {
    throw new CliError(
      `the targets module ${file}: \`retention\` must be false or an object such as { succeededMs: 86400000 }`,
    );
  }
  if (defaults !== undefined && !isObject(defaults)) {
    throw new CliError(
      `the targets module ${file}: \`defaults\` must be an object such as { maxAttempts: 5 }`,
    );
  }
  if (encryptors !== undefined && (typeof encryptors !== 'object' || encryptors === null)) {
    throw new CliError(
      `the targets module ${file}: \`encryptors\` must be an object of encryptors`,
    );
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new CliError(`the targets module ${file}: \`onError\` must be a function`);
  }
  return {
    targets: targets as Target[],
    ...(encryptors === undefined ? {} : { encryptors: encryptors as Record<string, Encryptor> }),
    ...(onError === undefined ? {} : { onError: onError as ErrorHook }),
    // Checked entry by entry by the AsyncTask, which says which one is wrong and how.
    ...(schedules === undefined ? {} : { schedules: schedules as ModuleSchedules }),
    ...(queues === undefined ? {} : { queues: queues as ModuleQueues }),
    ...(retention === undefined ? {} : { retention: retention as ModuleOptions['retention'] }),
    ...(defaults === undefined ? {} : { defaults: defaults as ModuleOptions['defaults'] }),
  };
}

const isObject = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `Shop (fulfill, refund), Mailer (send)`. */
export function describeTargets(targets: readonly Target[]): string {
  return targets
    .map((target) => {
      const definition = targetDefinition(target);
      return definition ? `${definition.name} (${[...definition.methods.keys()].join(', ')})` : '?';
    })
    .join(', ');
}

/** `mail (concurrency 10), api (rate 100 per 60000 ms per key, fair by key)`; '' for none. */
export function describeLimits(queues: ModuleQueues | undefined): string {
  return Object.entries(queues ?? {})
    .map(([queue, flow]) => {
      const parts = [
        flow.concurrency === undefined ? null : `concurrency ${flow.concurrency}`,
        flow.keyConcurrency === undefined ? null : `keyConcurrency ${flow.keyConcurrency}`,
        flow.rateLimit === undefined
          ? null
          : `rate ${flow.rateLimit.limit} per ${flow.rateLimit.periodMs} ms${flow.rateLimit.perKey ? ' per key' : ''}`,
        flow.fairness === undefined ? null : `fair by ${flow.fairness}`,
      ].filter((part) => part !== null);
      return `${queue} (${parts.join(', ')})`;
    })
    .join(', ');
}

/** `succeeded 1 d, failed 14 d, expired kept`, or `off (finished attempts are kept)`. */
export function describeRetention(retention: Retention | null): string {
  if (retention === null) return 'off (finished attempts are kept)';
  const age = (ms: number | null): string => {
    if (ms === null) return 'kept';
    const [unit, size] = [
      ['d', 86_400_000],
      ['h', 3_600_000],
      ['min', 60_000],
      ['s', 1000],
    ].find(([, size]) => ms >= Number(size)) ?? ['ms', 1];
    return `${Number((ms / Number(size)).toFixed(1))} ${unit}`;
  };
  return `succeeded ${age(retention.succeededMs)}, failed ${age(retention.failedMs)}, expired ${age(retention.expiredMs)}`;
}
