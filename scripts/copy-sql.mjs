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

// The dashboard's static files (served from the package: no CDN, no build step for users), and
// uPlot's, with its licence, from its package.
cpSync('src/dashboard/assets', 'dist/dashboard/assets', { recursive: true });
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
  cpSync(join('node_modules/uplot/dist', file), join('dist/dashboard/assets', file));
}
cpSync('node_modules/uplot/LICENSE', 'dist/dashboard/assets/uPlot.LICENSE');
