import type { TableName } from '../../seam/driver.js';
import type { AttemptStatsRow } from '../../seam/executor.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import { exactStats, statsByIdSample } from '../estimated-stats.js';
import type { StatementName } from './bound-statements.js';

/**
 * Tables with up to this much data (16 MB as InnoDB estimates it, about 100,000 attempts) are
 * counted exactly by stats(): one scan of them takes tens of milliseconds.
 */
const exactStatsBytes = 16 * 1024 * 1024;

/**
 * Small tables are counted exactly (under {@link exactStatsBytes} of data, as InnoDB estimates
 * it). Larger ones count every status but succeeded exactly from the claim index, and estimate
 * succeeded from a sample of id ranges (see statsByIdSample).
 */
export async function mysqlStats(
  table: TableName,
  query: (name: StatementName, params: readonly unknown[]) => Promise<SqlResult>,
): Promise<AttemptStatsRow[]> {
  const size = (await query('attemptStatsSize', [table.schema, table.name])).rows[0];
  const minId = size?.['min_id'];
  const maxId = size?.['max_id'];
  if (
    Number(size?.['bytes'] ?? 0) <= exactStatsBytes ||
    typeof minId !== 'string' ||
    typeof maxId !== 'string'
  ) {
    return exactStats((await query('attemptStats', [])).rows);
  }
  return statsByIdSample(
    BigInt(minId),
    BigInt(maxId),
    async (ranges) => (await query('attemptStatsEstimated', [ranges])).rows,
    async () => (await query('attemptStats', [])).rows,
  );
}
