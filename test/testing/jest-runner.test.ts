// async-task/testing under jest, as a user runs it: jest/*.test.mjs are plain ESM test files that
// import 'async-task', 'async-task/testing' and a driver by the package's own names, run with
// `node --experimental-vm-modules jest` (jest's ESM mode) against the package as it is published:
// package.json with its exports map, and the sources compiled to dist/ with the migrations beside
// them. Each file is transpiled on its own by esbuild (tsx's, which the suite runs on), as
// verbatimModuleSyntax and isolatedModules make safe: a second, where tsc takes most of this
// test's budget.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUrl } from '../harness/postgres.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const userFiles = fileURLToPath(new URL('./jest/', import.meta.url));

/** The package as npm would install it, in `<dir>/node_modules/async-task`. */
function installPackage(dir: string): void {
  const packageDir = join(dir, 'node_modules/async-task');
  const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' });
  for (const file of sources) {
    const from = join(root, 'src', file);
    const to = join(packageDir, 'dist', file);
    if (file.endsWith('.ts')) {
      const { code } = transformSync(readFileSync(from, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'es2022',
        sourcefile: from,
        tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
      });
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to.replace(/\.ts$/, '.js'), code);
    } else if (file.endsWith('.sql')) {
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
    }
  }
  cpSync(join(root, 'package.json'), join(packageDir, 'package.json'));
  // What the user's project has installed: our dependencies, the clients, and jest.
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const installed = [...Object.keys(manifest.dependencies ?? {}), 'better-sqlite3', 'pg'];
  for (const name of [...installed, '@jest/globals']) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  cpSync(userFiles, join(dir, 'tests'), { recursive: true });
}

function jest(
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const config = { rootDir: dir, testMatch: ['<rootDir>/tests/*.test.mjs'], transform: {} };
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--experimental-vm-modules',
        join(root, 'node_modules/jest/bin/jest.js'),
        '--config',
        JSON.stringify(config),
        '--ci',
        '--no-cache',
        '--runInBand',
        '--verbose',
      ],
      { cwd: dir, env: { ...process.env, ...env, NODE_OPTIONS: '', NO_COLOR: '1' } },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('async-task/testing under jest', () => {
  let dir = '';
  const schema = `at_jest_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'async-task-jest-'));
    installPackage(dir);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it('runs drain and expectEnqueued on SQLite and PostgreSQL, and shows a failed expectation as a diff', async () => {
    const { code, output } = await jest(dir, {
      ASYNC_TASK_POSTGRES_URL: postgresUrl,
      ASYNC_TASK_SCHEMA: schema,
    });

    expect(output).toMatch(/✓ sqlite: expectEnqueued, then drain runs it/);
    expect(output).toMatch(
      /✓ postgres: expectEnqueued on a committed transaction, then drain runs it/,
    );
    expect(output).toMatch(/✕ sqlite: a failing expectEnqueued shows the diff/);
    expect(output).toContain('EnqueuedAssertionError');
    expect(output).toContain("args.to: expected 'someone@example.com', got 'c@example.com'");
    expect(output).toMatch(/Tests:\s+1 failed, 2 passed, 3 total/);
    expect(code).toBe(1);
  }, 60_000);
});
