import type { WorkerInfo } from '../core/worker-info.js';
import type { WorkerBeatParams } from '../seam/executor.js';

/**
 * The parameters of every dialect's worker upsert, in this order: id, hostname, pid, queues (a
 * JSON array, or null), concurrency, running, aliveMs.
 */
export function workerBeatValues(params: WorkerBeatParams): unknown[] {
  return [
    params.id,
    params.hostname,
    params.pid,
    params.queues === null ? null : JSON.stringify(params.queues),
    params.concurrency,
    params.running,
    params.aliveMs,
  ];
}

/**
 * A row of every dialect's `workerListAlive`: times as epoch milliseconds and queues as JSON text,
 * converted whatever type the client gives them (a number or its text).
 */
export function toWorkerInfo(row: Record<string, unknown>): WorkerInfo {
  const queues = row['queues'] as string | null | undefined;
  return {
    id: String(row['id']),
    hostname: String(row['hostname']),
    pid: Number(row['pid']),
    queues: queues === null || queues === undefined ? null : (JSON.parse(queues) as string[]),
    concurrency: Number(row['concurrency']),
    running: Number(row['running']),
    startedAt: new Date(Number(row['started_at'])),
    lastSeenAt: new Date(Number(row['last_seen_at'])),
    aliveUntil: new Date(Number(row['alive_until'])),
  };
}
