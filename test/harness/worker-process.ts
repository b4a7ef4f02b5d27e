import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerOptions } from '../../src/index.js';
import { afterEach } from 'vitest';
import { waitFor } from './wait-for.js';
import { compiledScript } from './child-command.js';

const childScript = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** One handler run, as a child reported it. */
export interface Run {
  readonly id: string;
  readonly numAttempts: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A worker in a child process (`worker-child.ts`), with what it reported so far. `exited`
 * resolves on 'close', once every line the child wrote has been read.
 */
export class WorkerProcess extends EventEmitter<{ line: [string] }> {
  readonly label: string;
  /** Every `start` line, in order. */
  readonly starts: Run[] = [];
  /** `id numAttempts` of each `done` line. */
  readonly done = new Set<string>();
  readonly rescued = new Set<string>();
  readonly aborted = new Set<string>();
  readonly errors: string[] = [];
  readonly lines: string[] = [];
  readonly ready: Promise<string>;
  readonly exited: Promise<Exit>;
  #stderr = '';
  #stopped = false;
  #exit: Exit | undefined;
  readonly #child: ReturnType<typeof spawn>;

  constructor(label: string, env: Record<string, string>, options: WorkerOptions) {
    super();
    this.label = label;
    this.#child = spawn(process.execPath, [compiledScript(childScript)], {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        ...env,
        ASYNC_TASK_WORKER_OPTIONS: JSON.stringify({ id: label, ...options }),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A child that died already cannot take a stop line; that shows in `exited`, not as EPIPE.
    this.#child.stdin!.on('error', () => undefined);
    this.#child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    this.exited = new Promise((resolve, reject) => {
      this.#child.on('error', reject);
      this.#child.on('close', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    this.ready = new Promise((resolve, reject) => {
      this.on('line', (line) => {
        if (line.startsWith('ready ')) resolve(line.slice(6));
      });
      void this.exited.then((exit) =>
        reject(
          new Error(`${label} exited (${describe(exit)}) before it was ready: ${this.stderr}`),
        ),
      );
    });
    // Unobserved until a test awaits it; a child that dies early is reported through `ready`.
    this.ready.catch(() => undefined);
    createInterface({ input: this.#child.stdout! }).on('line', (line) => this.#onLine(line));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** How the child ended, once it has (and its output is read). */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** True once the child printed `stopped`. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** `id numAttempts` of runs that started and did not report `done`. */
  inFlight(): Run[] {
    return this.starts.filter((run) => !this.done.has(key(run)));
  }

  /** Resolves with the first line (already seen or still to come) that `match` accepts. */
  line(match: (line: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('line', listener);
        reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = (line: string): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.off('line', listener);
        resolve(line);
      };
      this.on('line', listener);
    });
  }

  /** Asks for a graceful stop; the child then exits by itself. */
  stop(timeoutMs = 30_000): void {
    this.#child.stdin!.end(`stop ${timeoutMs}\n`);
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }

  /** Stops the child and waits for it to exit cleanly within `timeoutMs`. */
  async stopAndExit(timeoutMs = 20_000): Promise<void> {
    this.stop();
    await within(this.exited, timeoutMs, `${this.label} to exit after stop`).then((exit) => {
      if (exit.code !== 0) {
        throw new Error(`${this.label} exited with ${describe(exit)}: ${this.stderr}`);
      }
    });
  }

  #onLine(line: string): void {
    this.lines.push(line);
    const [kind, id = '', rest = ''] = line.split(' ');
    switch (kind) {
      case 'start':
        this.starts.push({ id, numAttempts: Number(rest) });
        break;
      case 'done':
        this.done.add(`${id} ${rest}`);
        break;
      case 'rescued':
        this.rescued.add(id);
        break;
      case 'aborted':
        this.aborted.add(id);
        break;
      case 'error':
        this.errors.push(id);
        break;
      case 'stopped':
        this.#stopped = true;
        break;
    }
    this.emit('line', line);
  }
}

export function key(run: Run): string {
  return `${run.id} ${run.numAttempts}`;
}

function describe(exit: Exit): string {
  return exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every child still running (after a failed test), and waits for them to be gone. */
export async function killAll(children: readonly WorkerProcess[]): Promise<void> {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited.catch(() => undefined)));
}

/**
 * The worker processes of one test: starts them with shared defaults and keeps, across all of
 * them (replacements included), which ids committed (`done`) and when each id was last rescued.
 */
export class WorkerFleet {
  readonly all: WorkerProcess[] = [];
  readonly killed = new Set<WorkerProcess>();
  /** Ids whose `side` run committed. */
  readonly done = new Set<string>();
  /** When a `rescued` line last named each id. */
  readonly rescuedAt = new Map<string, number>();
  readonly #env: Record<string, string>;
  readonly #defaults: WorkerOptions;

  constructor(env: Record<string, string>, defaults: WorkerOptions) {
    this.#env = env;
    this.#defaults = defaults;
  }

  /** `env` adds to (or overrides) the fleet's environment for this one process. */
  start(
    label: string,
    options: WorkerOptions = {},
    env: Record<string, string> = {},
  ): WorkerProcess {
    const worker = new WorkerProcess(
      label,
      { ...this.#env, ...env },
      { ...this.#defaults, ...options },
    );
    worker.on('line', (line) => {
      if (line.startsWith('done ')) this.done.add(line.split(' ')[1]!);
      else if (line.startsWith('rescued ')) this.rescuedAt.set(line.split(' ')[1]!, Date.now());
    });
    this.all.push(worker);
    return worker;
  }

  alive(): WorkerProcess[] {
    return this.all.filter((worker) => !this.killed.has(worker) && worker.exit === undefined);
  }

  /** kill -9, and wait until every line it wrote has been read. */
  async kill(worker: WorkerProcess): Promise<void> {
    this.killed.add(worker);
    worker.kill();
    await worker.exited;
  }

  /** Graceful stop of every live worker; each must exit by itself. */
  async stopAll(): Promise<void> {
    await Promise.all(this.alive().map((worker) => worker.stopAndExit()));
  }

  /** What each process reported that is not routine: for failure messages. */
  describe(): string {
    return this.all
      .map((worker) => {
        const state = this.killed.has(worker) ? 'killed' : worker.stopped ? 'stopped' : 'alive';
        const errors = worker.errors.length > 0 ? ` errors during ${worker.errors.join(',')}` : '';
        const stderr = worker.stderr.trim().split('\n').slice(-3).join(' | ');
        return `${worker.label} (${state}, ${worker.starts.length} runs${errors})${stderr ? `: ${stderr}` : ''}`;
      })
      .join('; ');
  }

  /** `waitFor`, with what the workers reported in the failure message. */
  async waitFor(
    what: string,
    condition: () => boolean | Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    try {
      await waitFor(what, condition, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; workers: ${this.describe()}`, { cause: error });
    }
  }

  /** Kills whatever still runs (after a failed test). */
  close(): Promise<void> {
    return killAll(this.all);
  }
}

/**
 * Fleets made by each test, killed after it (call after `useHarness`, so that they are gone
 * before the harness drops their tables). Returns `newFleet(env, defaults)`.
 */
export function useFleets(): (env: Record<string, string>, defaults: WorkerOptions) => WorkerFleet {
  const made: WorkerFleet[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((fleet) => fleet.close()));
  });
  return (env, defaults) => {
    const fleet = new WorkerFleet(env, defaults);
    made.push(fleet);
    return fleet;
  };
}
