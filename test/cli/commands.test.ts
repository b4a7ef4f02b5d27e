// What does not depend on a database: help, usage errors, bad URLs, and the demo (embedded SQLite).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lines, runCli } from './run-cli.js';

const commands = [
  'migrate',
  'worker',
  'workers',
  'stats',
  'list',
  'show',
  'retry',
  'expire',
  'fail',
  'cancel',
  'prune',
  'dashboard',
  'demo',
];

function expectOneLineError(stderr: string, pattern: RegExp): void {
  const errorLines = lines(stderr);
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(/^async-task: /);
  expect(errorLines[0]).toMatch(pattern);
}

describe('async-task CLI: help and usage', () => {
  it('--help lists every command and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Usage: async-task \[options\] \[command\]/);
    for (const command of commands) expect(result.stdout).toMatch(new RegExp(`\\n  ${command} `));
    expect(result.stdout).toContain('npx async-task demo');
  });

  it.each(commands)('%s --help describes the command and exits 0', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(new RegExp(`^Usage: async-task ${command} `));
    if (command !== 'demo') expect(result.stdout).toContain('(env: DATABASE_URL)');
  });

  it('the help the README shows is the CLI’s own', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const shown = [
      ...readme.matchAll(/^```text\n\$ async-task ((?:\S+ )*--help)\n([\s\S]*?)^```$/gm),
    ];
    expect(shown.map((match) => match[1])).toEqual(['--help', 'worker --help']);
    for (const [, command, text] of shown) {
      const result = await runCli(command!.split(' '));
      expect(result.code).toBe(0);
      expect(result.stdout, `README: async-task ${command}`).toBe(text);
    }
  });

  it('help <command> works like <command> --help', async () => {
    const result = await runCli(['help', 'prune']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: async-task prune /);
  });

  it('--version prints the version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('an unknown command exits 2 with one line (and a suggestion)', async () => {
    const result = await runCli(['stat']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expectOneLineError(result.stderr, /unknown command 'stat'.*Did you mean stats\?/);
  });

  it('an unknown option exits 2 with one line', async () => {
    const result = await runCli(['list', '--colour']);
    expect(result.code).toBe(2);
    expectOneLineError(result.stderr, /unknown option '--colour'/);
  });

  it('no command prints help on stderr and exits 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Usage: async-task/);
  });

  it('no database URL is a usage error (exit 2)', async () => {
    const result = await runCli(['stats']);
    expect(result.code).toBe(2);
    expectOneLineError(
      result.stderr,
      /no database given: pass --database-url <url> or set DATABASE_URL/,
    );
  });

  it('an unsupported URL is a usage error (exit 2) with one line', async () => {
    const result = await runCli(['stats', '--database-url', 'redis://localhost:6379']);
    expect(result.code).toBe(2);
    expectOneLineError(result.stderr, /unsupported database URL "redis:\/\/localhost:6379"/);
  });

  it('an unreachable database exits 1 with one line, and the password is never printed', async () => {
    const result = await runCli([
      'stats',
      '--database-url',
      'postgres://someone:s3cret@127.0.0.1:1/nowhere',
    ]);
    expect(result.code).toBe(1);
    expectOneLineError(result.stderr, /ECONNREFUSED 127\.0\.0\.1:1/);
    expect(result.stderr).not.toContain('s3cret');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('--verbose adds the stack trace', async () => {
    const result = await runCli([
      '--verbose',
      'stats',
      '--database-url',
      'mysql://root@127.0.0.1:1/nowhere',
    ]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)[0]).toMatch(/^async-task: .*ECONNREFUSED/);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  it('a SQLite file that does not exist is not created by a read', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'async-task-cli-'));
    try {
      const file = join(folder, 'missing.db');
      const result = await runCli(['list', '--database-url', `sqlite:${file}`]);
      expect(result.code).toBe(1);
      expectOneLineError(result.stderr, /does not exist \(`async-task migrate` creates it\)/);
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

interface DemoSummary {
  file: string;
  orders: { placed: number; committed: number; rolledBack: number; enqueuedTwice: number };
  tasks: number;
  tasksForRolledBackOrders: number;
  succeeded: number;
  failed: number;
  retries: number;
  failuresInjected: number;
  fulfilments: number;
  duplicateFulfilments: number;
  elapsedMs: number;
  checks: { name: string; ok: boolean; detail: string }[];
  ok: boolean;
}

describe('async-task demo', () => {
  it('--orders 200: every guarantee holds, and the temporary file is removed', async () => {
    const result = await runCli(['demo', '--orders', '200', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as DemoSummary;
    const { committed, rolledBack, enqueuedTwice, placed } = summary.orders;
    expect(placed).toBe(200);
    expect(committed + rolledBack).toBe(200);
    expect(rolledBack).toBeGreaterThan(0);
    expect(enqueuedTwice).toBeGreaterThan(0);
    expect(summary.tasks).toBe(committed);
    expect(summary.tasksForRolledBackOrders).toBe(0);
    expect(summary.succeeded).toBe(committed);
    expect(summary.failed).toBe(0);
    expect(summary.failuresInjected).toBeGreaterThan(0);
    expect(summary.retries).toBe(summary.failuresInjected);
    expect(summary.fulfilments).toBe(committed);
    expect(summary.duplicateFulfilments).toBe(0);
    expect(summary.checks.every((check) => check.ok)).toBe(true);
    expect(summary.ok).toBe(true);
    expect(existsSync(summary.file)).toBe(false);
  });

  it('prints a readable summary, and --keep leaves a file the other commands can read', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'async-task-demo-'));
    try {
      const file = join(folder, 'shop.db');
      const result = await runCli(['demo', '--orders', '200', '--file', file, '--keep']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/✓ tasks = committed orders\s+(\d+) = \1\n/);
      expect(result.stdout).toMatch(/✓ tasks for rolled-back orders\s+0\n/);
      expect(result.stdout).toMatch(/✓ duplicate fulfilments\s+0\n/);
      expect(result.stdout).toMatch(/\nelapsed .*\nall 7 checks passed\n/);
      expect(existsSync(file)).toBe(true);

      const list = await runCli(['list', '--database-url', `sqlite:${file}`, '--limit', '3']);
      expect(list.code).toBe(0);
      expect(lines(list.stdout)).toHaveLength(4);
      expect(list.stdout).toMatch(/succeeded\s+Shop\.fulfill/);

      const again = await runCli(['demo', '--orders', '10', '--file', file]);
      expect(again.code).toBe(1);
      expectOneLineError(again.stderr, /already exists/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
