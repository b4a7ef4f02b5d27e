import { once } from 'node:events';
import { createServer } from 'node:http';
import { Command, Option } from 'commander';
import type { Logger } from '../../core/logger.js';
import { dashboard } from '../../dashboard/dashboard.js';
import { nodeListener } from '../../dashboard/node.js';
import { OneTimeLogin } from '../../dashboard/one-time-login.js';
import { loadTargetsModule, type TargetsModule } from '../targets-module.js';
import {
  addConnectionOptions,
  integerIn,
  note,
  requireUrl,
  withTasks,
  type ConnectionOptions,
} from '../common.js';

interface DashboardCommandOptions extends ConnectionOptions {
  readonly port: number;
  readonly host: string;
  readonly readOnly?: boolean;
  readonly targets?: string;
}

export function dashboardCommand(): Command {
  const command = new Command('dashboard')
    .summary('serve the web dashboard (127.0.0.1 only by default)')
    .description(
      'serve the web dashboard until Ctrl-C or SIGTERM; prints a one-time login URL (the first browser to open it gets a session)',
    )
    .addOption(
      new Option('-p, --port <n>', 'port to listen on (0: any free port)')
        .default(4000)
        .argParser(integerIn(0, 65535)),
    )
    .option(
      '--host <address>',
      'address to bind; anything but loopback exposes it to the network',
      '127.0.0.1',
    )
    .option('--read-only', 'show everything, offer no action')
    .option(
      '--targets <module>',
      "the workers' targets module (as for `async-task worker`): its `schedules` and `queues` exports fill the Schedules and limits page",
    )
    .action((options: DashboardCommandOptions) => serve(options));
  return addConnectionOptions(command);
}

async function serve(options: DashboardCommandOptions): Promise<void> {
  requireUrl(options); // before the module runs any code of its own
  const module: TargetsModule | undefined =
    options.targets === undefined ? undefined : await loadTargetsModule(options.targets);
  let requestStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
  process.once('SIGTERM', requestStop);
  process.once('SIGINT', requestStop);
  try {
    await withTasks(
      options,
      async (tasks, database) => {
        await tasks.ensureSchema();
        const login = new OneTimeLogin('');
        const handle = dashboard(tasks, {
          authorize: login.authorize,
          readOnly: options.readOnly === true,
        });
        const server = createServer(nodeListener(login.wrap(handle)));
        server.listen(options.port, options.host);
        await once(server, 'listening');
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : options.port;
        const host = options.host.includes(':') ? `[${options.host}]` : options.host;
        const origin = `http://${host}:${port}`;
        process.stdout.write(
          `async-task dashboard on ${origin}/ (${database.display}, table ${tasks.table})\n`,
        );
        process.stdout.write(`  open this one-time login URL: ${origin}${login.loginPath}\n`);
        process.stdout.write('  stop with Ctrl-C or SIGTERM\n');
        await stopRequested;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
      {
        ...(module && { targets: module.targets }),
        extra: {
          logger: stderrLogger,
          // Not its encryptors: the dashboard never decrypts.
          ...(module?.options.schedules && { schedules: module.options.schedules }),
          ...(module?.options.queues && { queues: module.options.queues }),
        },
      },
    );
  } finally {
    process.off('SIGTERM', requestStop);
    process.off('SIGINT', requestStop);
  }
}

/** Actions taken in the dashboard, one line each on stderr. */
const stderrLogger: Logger = {
  debug: () => undefined,
  info: (object, message) => note(`${message ?? ''} ${JSON.stringify(object)}`),
  warn: (object, message) => note(`warning: ${message ?? ''} ${JSON.stringify(object)}`),
  error: (object, message) => note(`error: ${message ?? ''} ${JSON.stringify(object)}`),
};
