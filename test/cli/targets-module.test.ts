// What `--targets <module>` refuses, in one line, before any work starts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeEncryptors } from '../../src/cli/targets-module.js';
import { lines, runCli } from './run-cli.js';

const database = join(mkdtempSync(join(tmpdir(), 'async-task-cli-')), 'cli.db');

describe('the targets module of `worker` and `dashboard`', () => {
  it('refuses `queues`, `retention` and `defaults` exports of the wrong kind, and limits out of range', async () => {
    expect((await runCli(['migrate', '-d', database])).code).toBe(0);
    const refusal = async (command: string, fixture: string) => {
      const result = await runCli([
        command,
        '-d',
        database,
        '--targets',
        `test/cli/fixtures/${fixture}`,
      ]);
      expect(result.code, command).toBe(1);
      return lines(result.stderr);
    };
    // Each case is a process of its own (2-3 s on a loaded machine), run side by side.
    const [list, bad, retention, defaults, dashboard] = await Promise.all([
      refusal('worker', 'list-queues.ts'),
      refusal('worker', 'bad-queues.ts'),
      refusal('worker', 'bad-retention.ts'),
      refusal('worker', 'bad-defaults.ts'),
      // The dashboard reads the module with the same code.
      refusal('dashboard', 'list-queues.ts'),
    ]);
    expect(list).toEqual([
      expect.stringMatching(
        /^async-task: the targets module .*list-queues\.ts: `queues` must be an object of queue names to their limits/,
      ),
    ]);
    expect(dashboard).toEqual(list);
    expect(bad).toEqual([
      'async-task: new AsyncTask: queues.mail.concurrency must be a whole number from 1 to 2147483647 (leave it out for no limit), got 0',
    ]);
    expect(retention).toEqual([
      expect.stringMatching(/bad-retention\.ts: `retention` must be false or an object such as/),
    ]);
    expect(defaults).toEqual([
      expect.stringMatching(/bad-defaults\.ts: `defaults` must be an object such as/),
    ]);
  });

  it("a worker's summary names its encryptors, and says what happens to encrypted tasks without any", () => {
    expect(
      describeEncryptors(
        new Map([
          ['aes', {}],
          ['old', {}],
        ]),
      ),
    ).toBe('aes, old');
    expect(describeEncryptors(new Map())).toBe(
      'none (a task enqueued with an encryptor fails with DecryptionError here; export `encryptors`)',
    );
  });
});
