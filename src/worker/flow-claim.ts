import type { QueueFlow } from '../core/flow.js';
import type { AttemptClaimParams, AttemptClaimResult, Executor } from '../seam/executor.js';
import type { AttemptRecord } from '../core/attempt.js';

/**
 * One claim of up to `params.limit` attempts across the queues a worker takes, where some queues
 * have flow control (the AsyncTask's `queues`). Without any, it is the plain claim, unchanged.
 * Otherwise each limited queue is claimed on its own (`attemptClaimLimited`, which keeps its
 * limits across every claimer and returns at most its room), then the queues without limits
 * share what is left of `limit` in one plain claim that leaves the limited ones out. Limited
 * queues go first so that a busy unlimited queue cannot starve them, starting from a random one so
 * that none starves the others.
 */
export async function claimWithFlows(
  executor: Executor,
  flows: ReadonlyMap<string, QueueFlow>,
  params: AttemptClaimParams,
): Promise<AttemptClaimResult> {
  if (flows.size === 0) return executor.attemptClaim(params);
  const limited =
    params.queues === null
      ? [...flows.values()]
      : params.queues.flatMap((queue) => flows.get(queue) ?? []);
  if (limited.length === 0) return executor.attemptClaim(params);
  const records: AttemptRecord[] = [];
  let now: Date | undefined;
  const { queues, limit, ...common } = params;
  const first = Math.floor(Math.random() * limited.length);
  for (let i = 0; i < limited.length && records.length < limit; i += 1) {
    const flow = limited[(first + i) % limited.length]!;
    const claimed = await executor.attemptClaimLimited({
      ...common,
      limit: limit - records.length,
      flow,
    });
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  const open = queues === null ? null : queues.filter((queue) => !flows.has(queue));
  if (records.length < limit && (open === null || open.length > 0)) {
    const claimed = await executor.attemptClaim({
      ...common,
      limit: limit - records.length,
      queues: open,
      exceptQueues: open === null ? [...flows.keys()] : [],
    });
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  return { records, now: now ?? new Date() };
}
