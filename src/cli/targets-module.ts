import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AsyncTaskOptions } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import type { Retention } from '../core/retention.js';
import { targetDefinition, type Target } from '../core/target.js';
import { CliError } from './errors.js';

type AllOptions = AsyncTaskOptions<unknown, unknown, Record<string, Encryptor>>;

const isObject = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The AsyncTask options a targets module may export by name, each with what it must be. A value
 * of the right kind is passed on as it is: the AsyncTask checks it and says what is wrong.
 */
const optionExports = {
  encryptors: ['an object of encryptors', isObject],
  onError: ['a function', (value: unknown) => typeof value === 'function'],
  schedules: ['an array of { name, cron, method, args }', Array.isArray],
  queues: [
    'an object of queue names to their limits, e.g. { mail: { concurrency: 10 } }',
    isObject,
  ],
  retention: [
    'false or an object such as { succeededMs: 86400000 }',
    (value: unknown) => value === false || isObject(value),
  ],
  defaults: ['an object such as { maxAttempts: 5 }', isObject],
  encryptedTaskErrors: ["'encrypt' or 'class'", (value: unknown) => typeof value === 'string'],
  telemetry: ['the result of openTelemetry() from async-task/opentelemetry', isObject],
} as const;

/** The module's exports that are AsyncTask options. */
export type ModuleOptions = Pick<Partial<AllOptions>, keyof typeof optionExports>;

/** What `worker --targets <module>` (and `schedules`, `dashboard`) take from the module. */
export interface TargetsModule {
  readonly targets: readonly Target[];
  /**
   * Its optional exports `encryptors`, `onError`, `schedules`, `queues` (flow control),
   * `retention`, `defaults`, `encryptedTaskErrors` and `telemetry`: a worker takes them as the
   * application's AsyncTask does, so that it keeps the same limits, retention and defaults.
   */
  readonly options: ModuleOptions;
}

/**
 * Imports the module at `path` (relative to the current directory) and reads its targets: a
 * named export `targets`, or a default export that is an array of targets (or an object with
 * `targets`), and the AsyncTask options it exports (see {@link TargetsModule}).
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
  const options: Record<string, unknown> = {};
  for (const [name, [what, fits]] of Object.entries(optionExports)) {
    const value = module[name] ?? from[name];
    if (value === undefined) continue;
    if (!fits(value)) {
      throw new CliError(`the targets module ${file}: \`${name}\` must be ${what}`);
    }
    options[name] = value;
  }
  return { targets: targets as Target[], options };
}

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
export function describeLimits(queues: ModuleOptions['queues']): string {
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

/** `aes, old`, or what a worker without any does with encrypted tasks. */
export function describeEncryptors(encryptors: ReadonlyMap<string, unknown>): string {
  return encryptors.size === 0
    ? 'none (a task enqueued with an encryptor fails with DecryptionError here; export `encryptors`)'
    : [...encryptors.keys()].join(', ');
}
