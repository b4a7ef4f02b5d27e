// On Node 20 an AsyncLocalStorage in use installs promise hooks for the whole process: every
// promise anyone makes then calls into JavaScript (about 0.4 KB and a microsecond per no-op task
// in a SQLite drain, and the same tax on the application's own promises). The better-sqlite3
// driver's worker connection used one around every statement, Knex's pool around every borrow and
// Prisma's after a first ctx.transaction; each now uses one only while a transaction's body runs,
// and lets go after.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledScript } from '../harness/child-command.js';

const childScript = fileURLToPath(
  new URL('../harness/sqlite-promise-hooks-child.ts', import.meta.url),
);

function runChild(label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [compiledScript(childScript), label], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`)),
    );
  });
}

describe.each(['sqlite/better-sqlite3', 'sqlite/knex', 'sqlite/kysely', 'sqlite/prisma'])(
  '%s: the worker connection and promise hooks',
  (label) => {
    it('draining tasks installs no promise hook, and a ctx.transaction leaves none behind', async () => {
      const report = JSON.parse(await runChild(label)) as {
        succeeded: number;
        notes: number;
        afterPlain: number[];
        afterTransactions: number[];
      };
      expect(report).toEqual({
        succeeded: 220,
        notes: 20,
        afterPlain: [0, 0, 0],
        afterTransactions: [0, 0, 0],
      });
    }, 60_000);
  },
);
