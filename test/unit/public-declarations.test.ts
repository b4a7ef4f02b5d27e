// What users' TypeScript sees is the .d.ts that `npm run build` emits with tsconfig.build.json,
// not the source: members marked @internal (the worker's and CLI's way into an AsyncTask) must
// not be in it. Emitted here in memory, so the test needs no build and leaves dist/ alone.
import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildOptions, repositoryRoot } from '../harness/build-options.js';

function emittedDeclarations(): Map<string, string> {
  const program = ts.createProgram({
    rootNames: [resolve(repositoryRoot, 'src/index.ts')],
    options: { ...buildOptions(), emitDeclarationOnly: true, noEmit: false },
  });
  const files = new Map<string, string>();
  program.emit(undefined, (fileName, text) => files.set(fileName, text), undefined, true);
  return files;
}

describe('public declarations', () => {
  const files = emittedDeclarations();
  const declarationOf = (name: string): string => {
    const entry = [...files].find(([fileName]) => fileName.endsWith(`/dist/${name}`));
    if (!entry) throw new Error(`no ${name} among ${[...files.keys()].join(', ')}`);
    return entry[1];
  };

  it('show no @internal member of any class', () => {
    const leaks = [...files].filter(([, text]) => text.includes('@internal'));
    expect(leaks.map(([fileName]) => fileName)).toEqual([]);
  });

  it('of AsyncTask keep its public members and lose runtime and ensureSchema', () => {
    const text = declarationOf('async-task.d.ts');
    expect(text).toMatch(/\benqueue<Args>\(/);
    expect(text).toMatch(/\bworker\(options\?: WorkerOptions\): Worker;/);
    expect(text).not.toMatch(/\bruntime\b/);
    expect(text).not.toMatch(/\bensureSchema\b/);
  });

  it('of Worker refuse `new Worker()`: the constructor is private, the factory internal', () => {
    const text = declarationOf('worker/worker.d.ts');
    expect(text).toMatch(/\bprivate constructor\(\);/);
    expect(text).not.toMatch(/\bcreate\(/);
  });
});
