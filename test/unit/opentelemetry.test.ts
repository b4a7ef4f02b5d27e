// async-task/opentelemetry's checks and its queue-depth cache, on the seam's hooks (the spans and
// counters on real databases are in test/conformance/telemetry.test.ts).
import { describe, expect, it } from 'vitest';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { AsyncTask, ConfigError, type Logger } from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import type { AttemptStatsRow } from '../../src/seam/executor.js';
import { telemetryHooks } from '../../src/seam/telemetry.js';
import { caughtSync } from '../harness/caught.js';
import { OtelRecorder, total } from '../harness/otel.js';
import { Database } from '../harness/sqlite.js';

describe('openTelemetry', () => {
  it('refuses a bad queueDepthCacheMs', () => {
    const error = caughtSync(() => openTelemetry({ queueDepthCacheMs: -1 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/queueDepthCacheMs must be .* got -1/);
  });

  it('is the only telemetry AsyncTask takes', () => {
    const db = new Database(':memory:');
    const error = caughtSync(
      () =>
        new AsyncTask({
          driver: betterSqlite3Driver(db),
          targets: [],
          telemetry: {} as ReturnType<typeof openTelemetry>,
        }),
    );
    db.close();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/made by openTelemetry\(\)/);
  });

  it('reads queue depth once per cache period, and keeps the last counts when a read fails', async () => {
    const otel = new OtelRecorder();
    const hooks = telemetryHooks(
      openTelemetry({ meterProvider: otel.meterProvider, queueDepthCacheMs: 60_000 }),
      'test',
    )!;
    const rows: AttemptStatsRow[] = [
      { queue: 'mail', status: 'pending', count: 7, approximate: false },
    ];
    let reads = 0;
    const warnings: string[] = [];
    const logger = { warn: (_fields: unknown, message: string) => warnings.push(message) };
    hooks.attach({
      table: 'attempts',
      stats: () => {
        reads += 1;
        return reads > 1 ? Promise.reject(new Error('database gone')) : Promise.resolve(rows);
      },
      logger: logger as unknown as Logger,
    });
    const depth = (points: Awaited<ReturnType<OtelRecorder['metrics']>>): number =>
      total(points, 'async_task.queue.depth', {
        'messaging.destination.name': 'mail',
        'async_task.status': 'pending',
        'async_task.table': 'attempts',
      });
    expect(depth(await otel.metrics())).toBe(7);
    expect(depth(await otel.metrics())).toBe(7);
    expect(reads).toBe(1);

    const uncached = new OtelRecorder();
    const again = telemetryHooks(
      openTelemetry({ meterProvider: uncached.meterProvider, queueDepthCacheMs: 0 }),
      'test',
    )!;
    again.attach({
      table: 'attempts',
      stats: () => {
        reads += 1;
        return reads > 2 ? Promise.reject(new Error('database gone')) : Promise.resolve(rows);
      },
      logger: logger as unknown as Logger,
    });
    expect(depth(await uncached.metrics())).toBe(7);
    expect(depth(await uncached.metrics())).toBe(7);
    expect(reads).toBe(3);
    expect(warnings).toEqual([
      'queue depth for telemetry: stats() failed; reporting the last counts',
    ]);
  });
});
