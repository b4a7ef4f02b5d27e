import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compiledScript } from '../harness/child-command.js';

/**
 * The CLI runs the code in the tree, so these tests need no build: compiled for this run
 * (test/harness/child-command.ts), or from source with tsx when it is given a `--targets` module,
 * which may be TypeScript and must share the CLI's copy of the library. `npm run demo` runs the
 * built one.
 */
export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliSource = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const fixtureTargets = 'test/cli/fixtures/targets.ts';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Added to the environment (DATABASE_URL is removed from the inherited one). */
  readonly env?: Readonly<Record<string, string>>;
  /** @defaultValue 45000 */
  readonly timeoutMs?: number;
}

/** Starts `async-task …args` in a child process. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const command = args.includes('--targets')
    ? ['--import', 'tsx', cliSource]
    : [compiledScript(cliSource)];
  return spawn(process.execPath, [...command, ...args], {
    cwd: repositoryRoot,
    env: { ...inherited, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `async-task …args` to completion; kills it after `timeoutMs`. */
export async function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 45_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await new Promise<CliResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the CLI, expects exit code 0, and parses its stdout as JSON. */
export async function runCliJson<T = unknown>(
  args: readonly string[],
  options: CliOptions = {},
): Promise<T> {
  const result = await runCli([...args, '--json'], options);
  if (result.code !== 0) {
    throw new Error(`async-task ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** The lines of `text`, without the empty last one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line, index, all) => line !== '' || index < all.length - 1);
}

/**
 * Polls `condition` until it holds, failing after `timeoutMs`. For states that announce
 * themselves with no event (a row's status); not a sleep.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The one-time login URL `async-task dashboard` prints; rejects if the process exits first. */
export function dashboardLoginUrl(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const url = /login URL: (\S+)/.exec(output)?.[1];
      if (url) resolve(url);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('exit', (code) =>
      reject(new Error(`async-task dashboard exited (${code}): ${output}`)),
    );
  });
}
