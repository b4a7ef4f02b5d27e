// vitest globalSetup: compiles src/ and test/harness/ to JavaScript once per run, for the child
// processes the tests start (`async-task` commands, worker processes). Started through tsx, each
// child spent about 0.75 s of CPU loading and transforming the TypeScript it imports: with a few
// hundred children, a tenth of the suite's time on a 2-core machine. Each file is transformed on
// its own with esbuild, as tsx does, so the children run the same code from the same tree.
// The output goes under node_modules/.cache, so the packages the code imports resolve as they do
// from the tree, and `provide` tells the tests where (test/harness/child-command.ts).
import { transform } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const trees = ['src', 'test/harness'];

function* filesUnder(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else yield path;
  }
}

export async function setup(project) {
  // One folder per run: a run still going in another checkout's process keeps its own files.
  const out = join(root, 'node_modules/.cache/async-task-children', String(process.pid));
  rmSync(out, { recursive: true, force: true });
  const tsconfigRaw = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
  const jobs = [];
  for (const tree of trees) {
    for (const file of filesUnder(join(root, tree))) {
      const target = join(out, relative(root, file));
      mkdirSync(dirname(target), { recursive: true });
      if (!file.endsWith('.ts') || file.endsWith('.d.ts')) {
        copyFileSync(file, target);
        continue;
      }
      if (file.endsWith('.test.ts')) continue;
      jobs.push(
        transform(readFileSync(file, 'utf8'), {
          loader: 'ts',
          format: 'esm',
          target: 'node20',
          sourcefile: file,
          sourcemap: 'inline',
          tsconfigRaw,
        }).then((result) => writeFileSync(target.replace(/\.ts$/, '.js'), result.code)),
      );
    }
  }
  await Promise.all(jobs);
  // The CLI reads its version from the package.json two folders above src/cli/.
  copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
  project.provide('compiledChildren', out);
  return () => rmSync(out, { recursive: true, force: true });
}
