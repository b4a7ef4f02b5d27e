// Generates the Prisma clients the tests use (test/harness/prisma/*.prisma) into
// test/harness/prisma/generated/<provider> (git-ignored), with the installed prisma CLI, when a
// schema or the CLI changed since the last run. Run by `npm run lint` and `npm run typecheck`
// (their pre-scripts: the test code imports the generated types) and by vitest (globalSetup).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const folder = join(root, 'test/harness/prisma');
const providers = ['postgresql', 'mysql', 'sqlite'];

export function setup() {
  const require = createRequire(join(root, 'package.json'));
  const cli = require.resolve('prisma/build/index.js');
  const version = JSON.parse(readFileSync(require.resolve('prisma/package.json'), 'utf8')).version;
  mkdirSync(join(folder, 'generated'), { recursive: true });
  for (const provider of providers) {
    const schema = join(folder, `${provider}.prisma`);
    const stamp = join(folder, 'generated', `${provider}.stamp`);
    const wanted = createHash('sha256')
      .update(`${version}\n${readFileSync(schema, 'utf8')}`)
      .digest('hex');
    const current = existsSync(stamp) ? readFileSync(stamp, 'utf8') : '';
    if (current === wanted && existsSync(join(folder, 'generated', provider, 'client.ts'))) {
      continue;
    }
    execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
      cwd: root,
      // Quiet unless it fails (execFileSync's error then carries the output).
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // `prisma generate` does not use the schema engine, but the CLI downloads it first when
        // it is missing, and binaries.prisma.sh may be out of reach (CI): point it at a binary
        // that exists and is never run.
        PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    });
    writeFileSync(stamp, wanted);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    setup();
  } catch (error) {
    process.stderr.write(`${error.stderr ?? ''}${error.stdout ?? ''}${error.message}\n`);
    process.exitCode = 1;
  }
}
