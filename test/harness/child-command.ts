// How tests start a child process on the tree's code: `node <script>.js` from the copy of src/
// and test/harness/ that scripts/compile-test-children.mjs compiled for this run.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder scripts/compile-test-children.mjs compiled this run's src/ and test/harness/ to. */
    compiledChildren: string;
  }
}

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The compiled twin of `script` (a `.ts` file under src/ or test/harness/): what `node` runs in
 * place of `node --import tsx <script>`.
 */
export function compiledScript(script: string): string {
  const compiled = inject('compiledChildren');
  if (!compiled) {
    throw new Error(
      'no compiled children: add scripts/compile-test-children.mjs to the vitest globalSetup',
    );
  }
  const path = relative(root, script);
  if (!/^(src|test\/harness)\//.test(path) || !path.endsWith('.ts')) {
    throw new Error(
      `${path} is not compiled for children: only .ts files under src/ and test/harness/ are`,
    );
  }
  return `${compiled}/${path.replace(/\.ts$/, '.js')}`;
}
