import { shortestRetentionMs } from '../../core/retention.js';
import type { TableName } from '../../seam/driver.js';
import type {
  AttemptPruneParams,
  AttemptPruneResult,
  AttemptPruneWindowParams,
  AttemptPruneWindowResult,
} from '../../seam/executor.js';
import { idOf } from '../attempt-rows.js';
import type { FlowQuery } from './flow-room.js';
import { microseconds, sqlTime } from './sql-time.js';

/**
 * MySQL's attemptPruneWindow, inside the transaction `inTransaction` opens, through the query it
 * passes: GET_LOCK, the window read, the delete, RELEASE_LOCK.
 */
export function pruneWindow(
  table: TableName,
  params: AttemptPruneWindowParams,
  inTransaction: (
    fn: (query: FlowQuery) => Promise<AttemptPruneWindowResult>,
  ) => Promise<AttemptPruneWindowResult>,
): Promise<AttemptPruneWindowResult> {
  const { succeededMs, failedMs, expiredMs } = params.retention;
  const ages = [succeededMs, failedMs, expiredMs].map(microseconds);
  const lock = [table.schema, table.name];
  return inTransaction(async (query) => {
    const acquired = await query('attemptPruneLock', lock);
    if (Number(acquired.rows[0]?.['acquired']) !== 1) {
      return { locked: false, deleted: 0, lastId: null, done: false };
    }
    try {
      const window = await query('attemptPruneWindowSelect', [
        ...ages,
        microseconds(shortestRetentionMs(params.retention)),
        params.afterId,
        params.limit,
      ]);
      const last = window.rows.at(-1);
      const candidates = window.rows.filter((row) => Number(row['prunable']) === 1);
      const deleted =
        candidates.length === 0
          ? 0
          : (
              await query('attemptPruneWindowDelete', [
                JSON.stringify(candidates.map((row) => ({ id: idOf(row) }))),
                ...ages,
              ])
            ).rowCount;
      return {
        locked: true,
        deleted,
        lastId: last ? idOf(last) : null,
        done: last === undefined || Number(last['recent']) === 1,
      };
    } finally {
      await query('attemptPruneUnlock', lock);
    }
  });
}

/**
 * MySQL's attemptPrune: the batch's candidates read without locks, then deleted by primary key
 * with the condition checked again under the row lock, so a row retried since the read stays.
 */
export async function pruneBatch(
  params: AttemptPruneParams,
  query: FlowQuery,
): Promise<AttemptPruneResult> {
  const cutoff = sqlTime(params.before);
  const { rows } = await query('attemptPruneSelect', [params.afterId, cutoff, params.limit]);
  const last = rows.at(-1);
  const nextAfterId = rows.length < params.limit || !last ? null : idOf(last);
  if (rows.length === 0) return { deleted: 0, nextAfterId };
  const list = JSON.stringify(rows.map((row) => ({ id: idOf(row) })));
  const deleted = await query('attemptPruneDelete', [list, cutoff]);
  return { deleted: deleted.rowCount, nextAfterId };
}
