// A worker with async-task/opentelemetry in its own process, set up as an application would: the
// SDK registered globally (tracer and meter providers, W3C propagator, async context), then
// `openTelemetry()` with no options. Environment: `harness.childEnv()`. stdout: `ready`, then on
// `stop` (stdin) it stops the worker and writes one JSON line `{ spans, points }` with every span
// it finished and one metric collection.
import { createInterface } from 'node:readline';
import { metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncTask } from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import { driverFromEnv } from './child-driver.js';
import { enableAsyncContext, OtelRecorder } from './otel.js';
import { tracedTarget } from './traced-target.js';

enableAsyncContext();
const otel = new OtelRecorder();
trace.setGlobalTracerProvider(otel.tracerProvider);
metrics.setGlobalMeterProvider(otel.meterProvider);
propagation.setGlobalPropagator(otel.propagator);

const { driver, table, close } = await driverFromEnv();
const tasks = new AsyncTask({ driver, table, targets: [tracedTarget], telemetry: openTelemetry() });
const worker = tasks.worker({ concurrency: 20 });
await worker.start();

const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  lines.close();
  void (async () => {
    await worker.stop();
    await close();
    const report = { spans: otel.spans(), points: await otel.metrics() };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  })();
});
process.stdout.write('ready\n');
