import type { QueueFlow } from '../core/flow.js';
import type { RateWindow } from '../seam/executor.js';
import type { SqlResult } from '../seam/sql-connection.js';

/** No window full, none freed lately: a queue without a rate limit, or with room all along. */
export const roomyWindow: RateWindow = { fullForMs: null, freedLately: false };

/**
 * A rate-limit window as a dialect's statement returned it (`full_for_ms`: a number, or a numeric
 * string on MySQL; `freed`: a boolean or 0/1).
 */
export function rateWindow(row: Record<string, unknown> | undefined): RateWindow {
  const full = row?.['full_for_ms'];
  return {
    fullForMs: full === null || full === undefined ? null : Math.max(0, Number(full)),
    freedLately: Boolean(Number(row?.['freed'] ?? 0)),
  };
}

/**
 * Executor.flowRateWindow: each dialect's statement takes (queue, period ms, limit, per key as 1
 * or 0); `read` runs it.
 */
export async function readRateWindow(
  flow: QueueFlow,
  read: (params: unknown[]) => Promise<SqlResult>,
): Promise<RateWindow> {
  const rate = flow.rateLimit;
  if (rate === null) return roomyWindow;
  const { rows } = await read([flow.queue, rate.periodMs, rate.limit, rate.perKey ? 1 : 0]);
  return rateWindow(rows[0]);
}
