// What a user's TypeScript sees is the emitted .d.ts, not our sources, and not always the
// TypeScript we build with: a name from a newer TypeScript (`NoInfer` is 5.4+) does not resolve on
// an older one, and `skipLibCheck` hides that while every argument quietly becomes `any`. So the
// declarations are emitted as `npm run build` emits them (into a temporary node_modules/async-task)
// and consumer.types.ts is compiled against them, as a user's file importing 'async-task', with
// TypeScript 5.0 (the oldest we support, the npm alias typescript-5.0) and with the current one.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import ts50 from 'typescript-5.0';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOptions, repositoryRoot as root } from '../harness/build-options.js';

const fixture = readFileSync(resolve(root, 'test/types/consumer.types.ts'), 'utf8');
const sourceImport = "} from '../../src/index.js'";
const openTelemetryImport = "} from '../../src/opentelemetry/index.js'";

type Compiler = typeof ts;

/** The emitted declarations, in `<dir>/node_modules/async-task`, with the package.json beside. */
function emitPackage(dir: string): void {
  const packageDir = join(dir, 'node_modules/async-task');
  const program = ts.createProgram({
    rootNames: [resolve(root, 'src/index.ts'), resolve(root, 'src/opentelemetry/index.ts')],
    options: {
      ...buildOptions(),
      outDir: join(packageDir, 'dist'),
      emitDeclarationOnly: true,
      noEmit: false,
    },
  });
  const result = program.emit();
  expect(
    result.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  ).toEqual([]);
  const manifest = readFileSync(resolve(root, 'package.json'), 'utf8');
  writeFileSync(join(packageDir, 'package.json'), manifest);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  // What an installation brings along: our dependencies, and what a user's project has: the
  // node:* types, and the peer that async-task/opentelemetry needs.
  const { dependencies = {} } = JSON.parse(manifest) as { dependencies?: Record<string, string> };
  for (const name of [...Object.keys(dependencies), '@types/node', '@opentelemetry/api']) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
    symlinkSync(resolve(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
}

interface Problem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/**
 * Compiles the user files (name → text) in `<dir>`, in one program, and reports the problems in
 * them and in our declarations.
 */
function compile(compiler: Compiler, dir: string, sources: Record<string, string>): Problem[] {
  const files = Object.entries(sources).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
  const program = compiler.createProgram({
    rootNames: files,
    options: {
      module: compiler.ModuleKind.Node16,
      moduleResolution: compiler.ModuleResolutionKind.Node16,
      target: compiler.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      // From the temporary project, not from the current directory (this repository).
      typeRoots: [join(dir, 'node_modules/@types')],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      // Our .d.ts are checked too: a user's skipLibCheck would hide an unresolved name.
      skipLibCheck: false,
      noEmit: true,
    },
  });
  // Only our files are checked (checking @types/node whole would triple the time, and its problems
  // on an old TypeScript are not ours): the user's files, and every declaration of ours they load.
  const ours = program
    .getSourceFiles()
    .filter(
      (f) => files.includes(f.fileName) || f.fileName.startsWith(`${dir}/node_modules/async-task/`),
    );
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...ours.flatMap((f) => [
      ...program.getSyntacticDiagnostics(f),
      ...program.getSemanticDiagnostics(f),
    ]),
  ];
  return diagnostics.map((d) => ({
    file: d.file ? d.file.fileName.slice(dir.length + 1) : '(options)',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1,
    message: compiler.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

/** The fixture's `@ts-expect-error` lines: their 0-based line and the reason written after. */
const expectations = fixture
  .split('\n')
  .map((text, line) => ({ line, reason: /\/\/ @ts-expect-error (.*)$/.exec(text)?.[1] }))
  .filter((entry): entry is { line: number; reason: string } => entry.reason !== undefined);

describe('a user file compiled against the emitted .d.ts', () => {
  let dir = '';
  const consumer = fixture
    .replace(sourceImport, "} from 'async-task'")
    .replace(openTelemetryImport, "} from 'async-task/opentelemetry'");

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'async-task-types-'));
    emitPackage(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe.each([
    ['TypeScript 5.0', ts50 as unknown as Compiler],
    ['the current TypeScript', ts],
  ])('with %s', (_name, compiler) => {
    // The fixture as is, and with each directive blanked (line numbers kept), which shows the
    // errors the directives stood for.
    let problems: Problem[] = [];
    beforeAll(() => {
      const bare = consumer.replace(/\/\/ @ts-expect-error .*$/gm, '//');
      problems = compile(compiler, dir, { 'consumer.ts': consumer, 'bare.ts': bare });
    });

    it('compiles, every @ts-expect-error meeting an error', () => {
      expect(consumer).not.toBe(fixture);
      expect(problems.filter((p) => p.file !== 'bare.ts')).toEqual([]);
    });

    it('refuses exactly the expected lines, saying why', () => {
      const refused = problems.filter((p) => p.file === 'bare.ts');
      expect([...new Set(refused.map((p) => p.line))]).toEqual(expectations.map((e) => e.line + 1));
      for (const { line, reason } of expectations) {
        const said = refused
          .filter((p) => p.line === line + 1)
          .map((p) => p.message)
          .join('\n');
        if (reason.startsWith('not JSON')) expect(said, reason).toMatch(/ is not JSON/);
        // TypeScript 5.0 names only the outer type when it has explained the same failure before.
        if (reason.startsWith('plain function')) {
          expect(said, reason).toMatch(/madeByDefineTarget|to type 'TaskMethod</);
        }
      }
    });
  });
});
