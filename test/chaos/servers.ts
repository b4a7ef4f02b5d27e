// Real servers for the chaos suite, each private to the test that starts it and torn down by it:
// a throwaway PostgreSQL cluster (initdb on a free port), a PgBouncer process with its own ini,
// and a TCP proxy that can stop forwarding without closing (a network partition).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from '../harness/wait-for.js';

const execFileAsync = promisify(execFile);
const pgBin = '/usr/lib/postgresql/15/bin';

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function postgresIds(): Promise<[number, number]> {
  const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
  const { stdout: group } = await execFileAsync('id', ['-g', 'postgres']);
  return [Number(stdout.trim()), Number(group.trim())];
}

/** Runs a binary as the postgres OS user (initdb, postgres and pgbouncer refuse root). */
async function asPostgres(binary: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('runuser', ['-u', 'postgres', '--', binary, ...args], {
    timeout: 60_000,
  });
  return stdout;
}

export interface PrivateCluster {
  readonly port: number;
  readonly url: string;
  /** `pg_ctl restart -m fast`; resolves once the server accepts connections again. */
  restart(): Promise<void>;
  /** Stops the server (immediate) and removes its folder. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL 15 cluster of its own in a temporary folder on a free port (trust auth, fsync
 * off): restarting it touches nobody else. Call `destroy()` in afterAll.
 */
export async function privateCluster(): Promise<PrivateCluster> {
  const folder = mkdtempSync(join(tmpdir(), 'async-task-chaos-pg-'));
  chownSync(folder, ...(await postgresIds()));
  const data = join(folder, 'data');
  const pgCtl = (...args: string[]) =>
    asPostgres(join(pgBin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(folder, 'server.log'),
      '-w',
      ...args,
    ]);
  let started = false;
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    if (started) await pgCtl('-m', 'immediate', 'stop').catch(() => undefined);
    rmSync(folder, { recursive: true, force: true });
  };
  try {
    await asPostgres(join(pgBin, 'initdb'), [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
    ]);
    const port = await freePort();
    await pgCtl(
      '-o',
      `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`,
      'start',
    );
    started = true;
    return {
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      restart: async () => {
        await pgCtl('-m', 'fast', 'restart');
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

export interface PgBouncer {
  readonly port: number;
  /** A URL through PgBouncer to `database` of the upstream server. */
  url(database: string): string;
  stop(): Promise<void>;
}

/** Whether Debian's `pgbouncer` is installed. */
export async function havePgBouncer(): Promise<boolean> {
  return execFileAsync('pgbouncer', ['--version']).then(
    () => true,
    () => false,
  );
}

/**
 * A PgBouncer process of its own, in transaction pooling mode, in front of a trust-auth server
 * on 127.0.0.1:`upstreamPort`. `stop()` ends it (SIGTERM, then SIGKILL) and removes its folder.
 */
export async function startPgBouncer(upstreamPort: number, poolSize = 8): Promise<PgBouncer> {
  const folder = mkdtempSync(join(tmpdir(), 'async-task-chaos-pgbouncer-'));
  chownSync(folder, ...(await postgresIds()));
  const port = await freePort();
  const ini = join(folder, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${upstreamPort} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${folder}`,
      'auth_type = any',
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(folder, 'pgbouncer.log')}`,
      `pidfile = ${join(folder, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  chownSync(ini, ...(await postgresIds()));
  const child: ChildProcess = spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', ini], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const pidfile = join(folder, 'pgbouncer.pid');
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(Number(readFileSync(pidfile, 'utf8').trim()), name);
    } catch {
      // Not started yet, or gone already: runuser's own end is awaited below.
    }
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      // To pgbouncer itself (from its pidfile): runuser does not always pass signals on.
      signal('SIGTERM');
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        signal('SIGKILL');
        child.kill('SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(folder, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'PgBouncer to accept connections',
      async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${stderr}`);
        const client = new pg.Client({
          connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
        });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      20_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop,
  };
}

/**
 * A TCP proxy to 127.0.0.1:`upstreamPort`. `blackHole()` stops forwarding in both directions
 * without closing anything (what a network partition looks like to both ends: writes are
 * accepted, nothing comes back; new connections are accepted and never answered);
 * `resume()` delivers what was held, as TCP does once a partition heals.
 */
export class BlackHoleProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #holding = false;
  readonly #held: (() => void)[] = [];
  port = 0;

  constructor(private readonly upstreamPort: number) {
    this.#server = createServer((client) => this.#accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this.port;
  }

  get holding(): boolean {
    return this.#holding;
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.#sockets.size / 2;
  }

  blackHole(): void {
    this.#holding = true;
    for (const socket of this.#sockets) socket.pause();
  }

  resume(): void {
    this.#holding = false;
    for (const socket of this.#sockets) socket.resume();
    for (const connect of this.#held.splice(0)) connect();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    client.pause();
    this.#track(client);
    const connect = (): void => {
      if (client.destroyed) return;
      const upstream = createConnection({ host: '127.0.0.1', port: this.upstreamPort });
      this.#track(upstream);
      // Data read from one side is written to the other; pausing a side stops reading it, so
      // its kernel buffers fill and the peer's writes go unanswered. Not pipe(): its 'drain'
      // handling would resume a paused side.
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => client.write(chunk));
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close);
      upstream.on('close', close);
      if (this.#holding) upstream.pause();
      else client.resume();
    };
    if (this.#holding) this.#held.push(connect);
    else connect();
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }
}
