import type { Attempt } from './attempt.js';
import { ConfigError, shown } from './errors.js';
import { checkOptionNames, optionNames, type OptionNames } from './options.js';
import { checkMaxAttempts, type Backoff } from './retry-policy.js';
import { characterCount, unstorableCharacter } from './storable-text.js';

/**
 * Declaration-merging hook: tell async-task the transaction type your driver hands to
 * `ctx.transaction`, once, and every `TaskContext` uses it.
 *
 * @example
 * declare module 'async-task' {
 *   interface Register { transaction: import('pg').PoolClient }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Register {}

type RegisteredTransaction = Register extends { transaction: infer T } ? T : unknown;

/** What a handler receives besides its arguments. */
export interface TaskContext<Tx = RegisteredTransaction> {
  /** The attempt being performed (status `running`; `numAttempts` counts this run). */
  readonly attempt: Attempt;
  /**
   * Aborted when the worker stops, the lease on this attempt is lost, the run's time limit passes,
   * or `tasks.cancel()` asks this attempt to stop (its `reason` is then a `CancelledError`, code
   * `CANCELLED`, and the attempt ends `expired` however the handler ends).
   */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` in a database transaction that also marks this attempt succeeded: the writes and
   * the success commit together or not at all. Call it at most once, as the handler's last step.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Reports how far this run is: `fraction` from 0 to 1 (else a `ConfigError`), and an optional
   * message (cut to 500 characters), shown as `progress` and `progressMessage` on the attempt.
   * Returns at once and never waits on the database, so it may be called in a tight loop: writes
   * are coalesced to at most one per second per run, the latest value winning, and the last value
   * is written before the run's outcome. Written only while this worker holds the run.
   */
  progress(fraction: number, message?: string): void;
}

/**
 * Marks the methods of a target made by `defineTarget`, and carries their arguments' type (a
 * method with no parameters takes `undefined`). Type-only: no such property exists at run time.
 * A plain function lacks it, so passing one to `enqueue` is a compile error that names it.
 */
declare const madeByDefineTarget: unique symbol;

/**
 * A method reference `enqueue` takes: a method of a target made by `defineTarget`, whose first
 * parameter is the (JSON) arguments.
 */
export type TaskMethod<Args> = ((args: Args, ctx: TaskContext<never>) => unknown) & {
  readonly [madeByDefineTarget]: Args;
};

/** Any method made by `defineTarget`, whatever its arguments (where they are checked elsewhere). */
export type AnyTaskMethod = ((args: never, ctx: TaskContext<never>) => unknown) & {
  readonly [madeByDefineTarget]: unknown;
};

/** The arguments a method takes: its first parameter's type, `undefined` when it has none. */
type FirstParameter<Params extends readonly unknown[]> = Params extends readonly []
  ? undefined
  : Params[0];

export interface MethodOptions {
  /** @defaultValue the target's, else the `AsyncTask` defaults, else 25 */
  readonly maxAttempts?: number;
  readonly backoff?: Backoff;
  /** @defaultValue `'default'` */
  readonly queue?: string;
  /** Lower runs first. @defaultValue 0 */
  readonly priority?: number;
  /**
   * Longest a run may take. Past it, `ctx.signal` aborts and the run counts as a failed attempt
   * (`TaskTimeoutError`, retried like any failure); the worker's slot is freed at once, whatever
   * the handler does next. The `onError` hook of a run gets the same bound.
   * @defaultValue the worker's `taskTimeoutMs` (10 × `leaseMs`, 5 minutes by default)
   */
  readonly timeoutMs?: number;
}

export interface TargetOptions<Methods> extends MethodOptions {
  /** Overrides for single methods. */
  readonly methods?: { readonly [K in keyof Methods]?: MethodOptions };
}

/** Where a method reference points: resolved by identity, so renaming a variable changes nothing. */
export interface MethodRef {
  readonly target: string;
  readonly methodName: string;
  readonly owner: object;
  readonly fn: (...args: never[]) => unknown;
  readonly options: MethodOptions;
  /** A static method its class inherits: a class it comes from, made a target, takes it over. */
  readonly inherited?: true;
}

export interface TargetDefinition {
  readonly name: string;
  readonly methods: ReadonlyMap<string, MethodRef>;
}

const targetKey: unique symbol = Symbol.for('async-task.target');
const methodRefs = new WeakMap<object, MethodRef>();

/** A target: the object you passed, unchanged, with its name attached. */
export type Target<Methods extends object = object> = {
  // Methods become function-typed properties: passing `OrderClient.fulfill` around is the API,
  // and typed linting (`unbound-method`) would flag every such reference to a method.
  readonly [K in keyof Methods]: Methods[K] extends (...args: infer A) => infer R
    ? ((...args: A) => R) & { readonly [madeByDefineTarget]: FirstParameter<A> }
    : Methods[K];
} & {
  readonly [targetKey]: TargetDefinition;
};

const namePattern = /^[A-Za-z_$][\w$.:-]{0,199}$/;
/**
 * The properties whose functions may be methods: an object's own; a class's own static ones and
 * those it inherits from the classes it extends (the nearest definition of each name), which its
 * type shows as its own.
 */
function methodDescriptors(methods: object, isClass: boolean): Map<string, PropertyDescriptor> {
  const found = new Map<string, PropertyDescriptor>();
  for (
    let owner: object | null = methods;
    owner !== null && owner !== Function.prototype && owner !== Object.prototype;
    owner = isClass ? (Object.getPrototypeOf(owner) as object | null) : null
  ) {
    for (const key of Object.getOwnPropertyNames(owner)) {
      if ((isClass && classBuiltins.has(key)) || found.has(key)) continue;
      found.set(key, Object.getOwnPropertyDescriptor(owner, key)!);
    }
  }
  return found;
}

/** method_name is VARCHAR(255) on MySQL: characters, which are code points there. */
const methodNameMax = 255;

/**
 * A method's name is stored in each row and looked up again to run it: one the database mends
 * (a lone surrogate stored as U+FFFD, a name past MySQL's 255 cut in a non-strict sql_mode) or
 * refuses (NUL on PostgreSQL) would make tasks that enqueue but never run.
 */
function checkMethodName(target: string, key: string): void {
  const unstorable = unstorableCharacter(key);
  const length = characterCount(key);
  if (unstorable === undefined && length >= 1 && length <= methodNameMax) return;
  const why = unstorable === undefined ? `${length} characters` : `it holds a ${unstorable}`;
  // Cut by code points: a message must not hold half a surrogate pair of its own making.
  const named = length > 60 ? `${[...key].slice(0, 60).join('')}…` : key;
  throw new ConfigError(
    `defineTarget('${target}'): method name ${JSON.stringify(named)} cannot be stored (${why}); use 1-${methodNameMax} characters without NUL or lone surrogates`,
  );
}
const classBuiltins = new Set(['length', 'name', 'prototype', 'caller', 'arguments']);

/**
 * Declares a named singleton whose methods can be enqueued as tasks. Pass a plain object, or a
 * class whose static methods are the tasks. The methods stay directly callable; a reference to one
 * (`OrderClient.fulfill`) is what `enqueue` takes. The name is stored in each row, so keep it
 * stable across deployments.
 *
 * @example
 * export const OrderClient = defineTarget('OrderClient', {
 *   async fulfill(args: { orderNumber: number }, ctx: TaskContext) {
 *     await fulfillment.fulfill(args.orderNumber, { signal: ctx.signal });
 *   },
 * });
 */
export function defineTarget<const Methods extends object>(
  name: string,
  methods: Methods,
  options: TargetOptions<Methods> = {},
): Target<Methods> {
  if (typeof name !== 'string' || !namePattern.test(name)) {
    throw new ConfigError(
      `defineTarget: target name ${JSON.stringify(name)} is not valid; use 1-200 characters: letters, digits, _ $ . : - (starting with a letter, _ or $)`,
    );
  }
  if ((typeof methods !== 'object' && typeof methods !== 'function') || methods === null) {
    throw new ConfigError(
      `defineTarget('${name}'): pass an object or a class whose methods are the tasks`,
    );
  }
  // Own only: a class that extends a target is not that target.
  const existing = targetDefinition(methods);
  if (existing) {
    if (existing.name === name) return methods as Target<Methods>;
    throw new ConfigError(
      `defineTarget('${name}'): this object is already the target '${existing.name}'; a target has one name`,
    );
  }
  checkMethodOptions(options, `defineTarget('${name}')`, targetOptionNames);
  const isClass = typeof methods === 'function';
  const refs = new Map<string, MethodRef>();
  const descriptors = methodDescriptors(methods, isClass);
  const inherited = new Set([...descriptors.keys()].filter((key) => !Object.hasOwn(methods, key)));
  for (const [key, descriptor] of descriptors) {
    const fn: unknown = descriptor.value;
    if (typeof fn !== 'function') continue;
    checkMethodName(name, key);
    const perMethod = (options.methods as Record<string, MethodOptions | undefined> | undefined)?.[
      key
    ];
    if (perMethod) checkMethodOptions(perMethod, `defineTarget('${name}') method ${key}`);
    const { methods: _ignored, ...targetLevel } = options;
    const ref: MethodRef = {
      target: name,
      methodName: key,
      owner: methods,
      fn: fn as MethodRef['fn'],
      options: { ...targetLevel, ...perMethod },
      ...(inherited.has(key) ? { inherited: true } : {}),
    };
    const other = methodRefs.get(fn);
    // Inherited from a class that is a target of its own: it stays that target's method (and a
    // class that extends it, made a target first, hands it over).
    if (other && other.owner !== methods && inherited.has(key)) continue;
    if (other && other.owner !== methods && other.inherited !== true) {
      throw new ConfigError(
        `defineTarget('${name}'): method ${key} is already ${other.target}.${other.methodName}; a function can belong to one target (wrap it in a new function)`,
      );
    }
    // A reference names its method by its function: an alias would enqueue as one of the two
    // names, with that method's options.
    const alias = [...refs.values()].find((taken) => taken.fn === fn);
    if (alias) {
      throw new ConfigError(
        `defineTarget('${name}'): methods ${alias.methodName} and ${key} are the same function, so an enqueue of either could not tell which it meant; give one of them a function of its own (one that calls the other)`,
      );
    }
    refs.set(key, ref);
  }
  for (const key of Object.keys(options.methods ?? {})) {
    if (!refs.has(key)) {
      throw new ConfigError(
        `defineTarget('${name}'): options.methods.${key} names no method of this target`,
      );
    }
  }
  if (refs.size === 0) {
    throw new ConfigError(`defineTarget('${name}'): the target has no methods`);
  }
  // Only once nothing is refused: a refused definition must leave no function taken.
  for (const ref of refs.values()) methodRefs.set(ref.fn, ref);
  Object.defineProperty(methods, targetKey, {
    value: { name, methods: refs } satisfies TargetDefinition,
    enumerable: false,
  });
  return methods as Target<Methods>;
}

/** The definition attached by `defineTarget`, or undefined for anything else. */
export function targetDefinition(value: unknown): TargetDefinition | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null)
    return undefined;
  return Object.hasOwn(value, targetKey) ? (value as Partial<Target>)[targetKey] : undefined;
}

/** The target and method a function reference belongs to, or undefined. */
export function methodRef(fn: unknown): MethodRef | undefined {
  return typeof fn === 'function' ? methodRefs.get(fn) : undefined;
}

const methodOptionNames = optionNames<MethodOptions>({
  maxAttempts: true,
  backoff: true,
  queue: true,
  priority: true,
  timeoutMs: true,
});
const targetOptionNames: OptionNames = new Set([...methodOptionNames, 'methods']);

export function checkMethodOptions(
  options: MethodOptions,
  where: string,
  names: OptionNames = methodOptionNames,
): void {
  checkOptionNames(options, names, where);
  if (options.maxAttempts !== undefined) checkMaxAttempts(options.maxAttempts, where);
  if (options.queue !== undefined) checkQueue(options.queue, where);
  if (options.priority !== undefined) checkPriority(options.priority, where);
  if (options.backoff !== undefined && typeof options.backoff !== 'function') {
    throw new ConfigError(`${where}: backoff must be a function (numAttempts) => milliseconds`);
  }
  if (options.timeoutMs !== undefined) checkTimeout(options.timeoutMs, `${where}: timeoutMs`);
}

/** A run's time limit: whole milliseconds from 1 ms to 7 days (timers cannot wait longer than ~24 days). */
export function checkTimeout(value: number, where: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 7 * 86_400_000) {
    throw new ConfigError(
      `${where} must be a whole number of milliseconds from 1 to 604800000 (7 days), got ${shown(value)}`,
    );
  }
  return value;
}

const queuePattern = /^[\w.:-]{1,100}$/;

export function checkQueue(queue: string, where: string): string {
  if (typeof queue !== 'string' || !queuePattern.test(queue)) {
    throw new ConfigError(
      `${where}: queue ${JSON.stringify(queue)} is not valid; use 1-100 letters, digits, _ . : -`,
    );
  }
  return queue;
}

export function checkPriority(priority: number, where: string): number {
  if (!Number.isInteger(priority) || priority < -32768 || priority > 32767) {
    throw new ConfigError(
      `${where}: priority must be an integer from -32768 to 32767, got ${shown(priority)}`,
    );
  }
  return priority;
}
