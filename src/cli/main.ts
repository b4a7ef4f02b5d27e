#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { dashboardCommand } from './commands/dashboard.js';
import { demoCommand } from './commands/demo.js';
import { cancelCommand } from './commands/cancel.js';
import { expireCommand } from './commands/expire.js';
import { failCommand } from './commands/fail.js';
import { listCommand } from './commands/list.js';
import { migrateCommand } from './commands/migrate.js';
import { migrationsCommand } from './commands/migrations.js';
import { pruneCommand } from './commands/prune.js';
import { retryCommand } from './commands/retry.js';
import { schedulesCommand } from './commands/schedules.js';
import { showCommand } from './commands/show.js';
import { statsCommand } from './commands/stats.js';
import { uninstallCommand } from './commands/uninstall.js';
import { workerCommand } from './commands/worker.js';
import { workersCommand } from './commands/workers.js';
import { describeForCli, describeVerbose, exitCode, exitCodeOf } from './errors.js';

function version(): string {
  try {
    const manifest = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The `async-task` program, with every command. */
export function program(): Command {
  const root = new Command('async-task')
    .description(
      'Manage async-task attempts and run workers on PostgreSQL, MySQL/MariaDB or SQLite.',
    )
    .version(version(), '-V, --version')
    .option('--verbose', 'on error, print the stack trace and causes')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      // Commander's own errors ("error: unknown option '--x'") as one line of ours.
      outputError: (text, write) =>
        write(
          `async-task: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    })
    .addHelpText(
      'after',
      `
The database comes from --database-url or DATABASE_URL:
  postgres://user:pass@host:5432/db   PostgreSQL (needs the pg package)
  mysql://user:pass@host:3306/db      MySQL 8 / MariaDB 10.6+ (needs mysql2)
  sqlite:path/app.db, app.db          SQLite file (needs better-sqlite3)

Exit codes: 0 ok; 1 the work failed (database, attempt state, a demo check);
2 usage error. Errors are one line on stderr; add --verbose for the stack.

Try it with no server: npx async-task demo`,
    );
  for (const command of [
    migrateCommand(),
    migrationsCommand(),
    workerCommand(),
    workersCommand(),
    schedulesCommand(),
    statsCommand(),
    listCommand(),
    showCommand(),
    retryCommand(),
    expireCommand(),
    failCommand(),
    cancelCommand(),
    pruneCommand(),
    uninstallCommand(),
    dashboardCommand(),
    demoCommand(),
  ]) {
    root.addCommand(command);
  }
  return root;
}

/** Runs the CLI with `argv` (the user's arguments, without `node` and the script). */
export async function main(argv: readonly string[]): Promise<number> {
  const root = program();
  // Subcommands built separately do not inherit the root's settings; copy them over.
  for (const command of root.commands) {
    command.copyInheritedSettings(root);
  }
  try {
    await root.parseAsync(argv, { from: 'user' });
    return exitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, `help <command>` and --version exit 0; anything else commander stops on (an
      // unknown command or option, a bad value, no command at all) is a usage error.
      return error.exitCode === 0 ? exitCode.ok : exitCode.usage;
    }
    const verbose =
      root.opts<{ verbose?: boolean }>().verbose === true || argv.includes('--verbose');
    process.stderr.write(`async-task: ${describeForCli(error)}\n`);
    if (verbose) process.stderr.write(`${describeVerbose(error)}\n`);
    return exitCodeOf(error);
  }
}

// A reader that goes away (`async-task list | head`) is not an error: stop writing, finish the
// work (the demo still removes its file), exit as usual.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
