// Checks what `npm publish` would ship, as users install it: packs the built package (run
// `npm run build` first), then on the tarball runs publint --strict and @arethetypeswrong/cli
// with the ESM-only profile, and checks that every .d.ts is reachable from an entry point and
// that no source map points at a file the package does not ship. Exits non-zero on any problem.
//
//   node scripts/check-package.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unreachableDeclarations } from './unreachable-declarations.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const work = mkdtempSync(join(tmpdir(), 'async-task-pack-'));
const problems = [];

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Each `sourceMappingURL` names a shipped map, and each map's sources are shipped. */
function brokenSourceMaps(packageDir) {
  const broken = [];
  for (const file of filesUnder(packageDir)) {
    const short = file.slice(packageDir.length + 1);
    if (/\.(?:[cm]?js|d\.[cm]?ts)$/.test(file)) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(file, 'utf8'))?.[1];
      if (url && !url.startsWith('data:') && !existsSync(resolve(dirname(file), url))) {
        broken.push(`${short} points at ${url}, not in the package`);
      }
    } else if (file.endsWith('.map')) {
      const map = JSON.parse(readFileSync(file, 'utf8'));
      const base = resolve(dirname(file), map.sourceRoot ?? '');
      for (const source of map.sources ?? []) {
        if (!existsSync(resolve(base, source))) broken.push(`${short} maps ${source}, not shipped`);
      }
    }
  }
  return broken;
}

function run(label, command, args) {
  console.log(`== ${label}`);
  const result = spawnSync(command, args, { cwd: work, stdio: 'inherit' });
  if (result.status !== 0)
    problems.push(`${label} failed (exit ${result.status ?? result.signal})`);
}

try {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
    }),
  );
  const tarball = join(work, packed[0].filename);
  console.log(
    `== ${packed[0].filename}: ${packed[0].entryCount} files, ${packed[0].size} bytes packed`,
  );
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  const packageDir = join(work, 'package');

  const unreachable = unreachableDeclarations(packageDir);
  console.log(`== declarations: ${unreachable.length} not reachable from an entry point`);
  for (const file of unreachable) problems.push(`${file} is not reachable from any entry point`);
  const broken = brokenSourceMaps(packageDir);
  console.log(`== source maps: ${broken.length} broken`);
  problems.push(...broken);

  // The README's claim: CommonJS can require() the package where Node.js loads ES modules so.
  const [major, minor] = process.versions.node.split('.').map(Number);
  if ((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major >= 23) {
    const entry = JSON.stringify(join(packageDir, 'dist/index.js'));
    run(`require() from CommonJS on Node.js ${process.versions.node}`, process.execPath, [
      '--input-type=commonjs',
      '-e',
      `const { AsyncTask } = require(${entry}); if (typeof AsyncTask !== 'function') process.exit(1);`,
    ]);
  }
  run('publint --strict', bin('publint'), ['run', tarball, '--strict']);
  run('attw --profile esm-only', bin('attw'), [tarball, '--profile', 'esm-only']);
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`check-package: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
} else {
  console.log('check-package: ok');
}
