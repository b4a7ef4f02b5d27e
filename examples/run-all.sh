#!/usr/bin/env bash
# Runs every example (or those named: `bash examples/run-all.sh prisma drizzle`) against the
# packed package, installed as a user would install it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball=$(ls "$work"/async-task-*.tgz)
failed=0
if [ "$#" -gt 0 ]; then
  dirs=()
  for name in "$@"; do dirs+=("$root/examples/$name/"); done
else
  dirs=("$root"/examples/*/)
fi
for dir in "${dirs[@]}"; do
  name=$(basename "$dir")
  echo "== example $name"
  cp -r "$dir" "$work/$name"
  rm -rf "$work/$name/node_modules"
  (
    cd "$work/$name"
    # The example's own dependencies, with async-task replaced by the packed tarball.
    node -e '
      const fs = require("node:fs");
      const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
      p.dependencies["async-task"] = "file:" + process.argv[1];
      fs.writeFileSync("package.json", JSON.stringify(p, null, 2));
    ' "$tarball"
    npm install --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
    if [ -f setup.sh ]; then bash setup.sh; fi
    npm run --silent typecheck
    timeout 120 npm start --silent
  ) || { echo "example $name FAILED"; failed=1; }
done
exit "$failed"
