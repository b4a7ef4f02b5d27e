// A .d.ts that no entry point's types import is dead weight in the package (tsc emits one per
// module, the CLI's included). `npm run build` deletes them (--delete); scripts/check-package.mjs
// checks the packed package has none.
//
//   node scripts/unreachable-declarations.mjs [--delete] [packageDir]
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Every `types` target in `exports` (any depth of conditions), and the top-level `types`. */
function entryTypes(manifest) {
  const found = [];
  const visit = (value, key) => {
    if (typeof value === 'string') {
      if (key === 'types' && value.endsWith('.d.ts')) found.push(value);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  visit(manifest.exports, '');
  if (typeof manifest.types === 'string') found.push(manifest.types);
  if (typeof manifest.typings === 'string') found.push(manifest.typings);
  return found;
}

function declarationFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return declarationFiles(path);
    return /\.d\.[cm]?ts$/.test(name) ? [path] : [];
  });
}

/** The .d.ts a relative specifier in a .d.ts stands for (`./x.js` → `./x.d.ts`). */
function declarationOf(from, specifier) {
  const path = resolve(dirname(from), specifier);
  if (/\.d\.[cm]?ts$/.test(path)) return path;
  const withoutJs = path.replace(/\.([cm]?)js$/, '.d.$1ts');
  return withoutJs === path ? `${path}.d.ts` : withoutJs;
}

/**
 * The .d.ts files under `packageDir` that the `types` of no entry point reach through relative
 * imports, exports, `import("…")` types and `/// <reference path>`; paths relative to `packageDir`.
 */
export function unreachableDeclarations(packageDir) {
  const root = resolve(packageDir);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const reached = new Set();
  const queue = entryTypes(manifest).map((path) => resolve(root, path));
  while (queue.length > 0) {
    const file = queue.pop();
    if (reached.has(file)) continue;
    reached.add(file);
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // a missing entry point is publint's and attw's to report
    }
    const info = ts.preProcessFile(text, true, true);
    for (const { fileName } of [...info.importedFiles, ...info.referencedFiles]) {
      if (fileName.startsWith('.')) queue.push(declarationOf(file, fileName));
    }
  }
  const dist = join(root, 'dist');
  return declarationFiles(dist)
    .filter((file) => !reached.has(file))
    .map((file) => relative(root, file))
    .sort();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const remove = args.includes('--delete');
  const packageDir = args.find((arg) => !arg.startsWith('--')) ?? '.';
  const unreachable = unreachableDeclarations(packageDir);
  if (remove) {
    for (const file of unreachable) rmSync(join(packageDir, file));
  } else {
    for (const file of unreachable) console.log(file);
    if (unreachable.length > 0) process.exitCode = 1;
  }
}
