// Migrations are plain .sql files; tsc does not copy them, so the build does.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dialects = 'src/dialects';
for (const name of readdirSync(dialects)) {
  const from = join(dialects, name, 'migrations');
  if (statSync(join(dialects, name)).isDirectory()) {
    try {
      cpSync(from, join('dist/dialects', name, 'migrations'), { recursive: true });
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
  }
}
