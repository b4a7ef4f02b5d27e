// The compiler options `npm run build` uses (tsconfig.build.json), for tests that emit the
// declarations users get without building into dist/.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** tsconfig.build.json's options, resolved as tsc resolves them. */
export function buildOptions(): ts.CompilerOptions {
  const configPath = resolve(repositoryRoot, 'tsconfig.build.json');
  const { config } = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path)) as {
    config: unknown;
  };
  return ts.parseJsonConfigFileContent(config, ts.sys, repositoryRoot, undefined, configPath)
    .options;
}
