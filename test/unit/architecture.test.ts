// The layers of README § Architecture, checked: each folder of src/ imports only the layers below
// it, so a dialect never reaches a client library and the worker never reaches a dialect.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** What each top-level part of src/ may import besides itself. Parts not listed are unchecked. */
const allowed: Record<string, readonly string[]> = {
  core: [],
  seam: ['core'],
  dialects: ['core', 'seam'],
  drivers: ['core', 'seam', 'dialects'],
  worker: ['core', 'seam'],
  facade: ['core', 'seam', 'worker'],
  'async-task.ts': ['core', 'seam', 'facade', 'worker'],
  // async-task/testing works on an AsyncTask (imported as ../async-task.js) and its pipeline.
  testing: ['core', 'seam', 'worker', 'async-task.js'],
  // async-task/opentelemetry implements the seam's telemetry hooks; the core never sees it.
  opentelemetry: ['core', 'seam'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level part of src/ a file belongs to: its first folder, or its own name at the top. */
function partOf(file: string): string {
  return relative(src, file).split(/[\\/]/)[0]!;
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((specifier) => resolve(dirname(file), specifier));
}

describe('architecture', () => {
  it('each layer imports only the layers below it', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(src)) {
      const part = partOf(file);
      const may = allowed[part];
      if (!may) continue;
      for (const target of relativeImports(file)) {
        const targetPart = partOf(target);
        if (targetPart !== part && !may.includes(targetPart)) {
          violations.push(`${relative(src, file)} imports ${relative(src, target)}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('sees the imports it checks', () => {
    // Guards the check itself: a regex that matched nothing would pass every layer.
    const worker = join(src, 'worker/worker.ts');
    expect(relativeImports(worker).map(partOf)).toContain('core');
  });

  it('keeps every source file within 400 lines', () => {
    const long = sourceFiles(src)
      .map(
        (file) => [relative(src, file), readFileSync(file, 'utf8').split('\n').length - 1] as const,
      )
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });
});
