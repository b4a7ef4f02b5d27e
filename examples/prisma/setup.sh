#!/usr/bin/env bash
# Generates the Prisma client of schema.prisma into ./generated/prisma (run after npm install).
set -euo pipefail
cd "$(dirname "$0")"
# `prisma generate` never runs the schema engine, but the CLI downloads it first when it is
# missing, and binaries.prisma.sh may be out of reach: point it at a binary that is never run.
PRISMA_SCHEMA_ENGINE_BINARY=/bin/false CHECKPOINT_DISABLE=1 npx --no-install prisma generate --schema schema.prisma >/dev/null
