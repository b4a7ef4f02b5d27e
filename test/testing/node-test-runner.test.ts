// async-task/testing needs no test framework: node-test-suite.ts is a node:test suite, run here
// with `node --test` as a user would run theirs. Its failures carry the readable message.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const suite = fileURLToPath(new URL('./node-test-suite.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

function nodeTest(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', suite],
      { cwd: root, env: { ...process.env, ...env, NODE_OPTIONS: '' } },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('async-task/testing under node:test', () => {
  it('passes a suite that uses drain, expectEnqueued and runInline', async () => {
    const { code, output } = await nodeTest({});
    expect(output).toMatch(/pass 2/);
    expect(output).toMatch(/fail 0/);
    expect(code).toBe(0);
  });

  it('fails an expectEnqueued with the diff in what node:test prints', async () => {
    const { code, output } = await nodeTest({ SHOW_DIFF: '1' });
    expect(code).toBe(1);
    expect(output).toMatch(/pass 2/);
    expect(output).toMatch(/fail 1/);
    expect(output).toContain('EnqueuedAssertionError');
    expect(output).toContain("args.to: expected 'someone@example.com', got 'c@example.com'");
  });
});
