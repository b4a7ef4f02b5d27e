// Importing async-task or one of its drivers loads no database client: each driver works on the
// client object the application passes in, and knows its client only by type. Checked on the
// JavaScript TypeScript emits for each module (type-only imports vanish, `import { type X }`
// would not), following relative imports.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function emittedImports(file: string): string[] {
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
    fileName: file,
  });
  const specifiers: string[] = [];
  const source = ts.createSourceFile(file, outputText, ts.ScriptTarget.ES2022);
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** The packages (not node: built-ins) loaded by importing `entry`, through its relative imports. */
function packagesLoadedBy(entry: string): string[] {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of emittedImports(file)) {
      if (specifier.startsWith('.')) {
        walk(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      } else if (!specifier.startsWith('node:')) {
        packages.add(specifier);
      }
    }
  };
  walk(entry);
  return [...packages].sort();
}

describe('what an import loads', () => {
  it('reads imports from the emitted modules (not an empty list)', () => {
    expect(emittedImports(join(src, 'index.ts'))).toContain('./async-task.js');
  });

  it('async-task itself loads no package', () => {
    expect(packagesLoadedBy(join(src, 'index.ts'))).toEqual([]);
  });

  it('async-task/opentelemetry loads only @opentelemetry/api (the optional peer)', () => {
    expect(packagesLoadedBy(join(src, 'opentelemetry/index.ts'))).toEqual(['@opentelemetry/api']);
  });

  // Entry points: `drivers/<name>.ts`, or `drivers/<name>/index.ts` for a driver with several
  // flavours (not `internal/`, which is no entry point).
  const drivers = readdirSync(join(src, 'drivers'), { withFileTypes: true }).flatMap((entry) => {
    if (entry.isFile() && entry.name.endsWith('.ts')) return [entry.name];
    if (entry.isDirectory() && entry.name !== 'internal') return [`${entry.name}/index.ts`];
    return [];
  });

  it('finds every driver entry point', () => {
    expect(drivers.length).toBeGreaterThanOrEqual(9);
  });

  it.each(drivers)('async-task/%s loads no database client', (name) => {
    expect(packagesLoadedBy(join(src, 'drivers', name))).toEqual([]);
  });
});
