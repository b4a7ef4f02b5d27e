// Fills an async-task attempts table (PostgreSQL) with a week of history, for the dashboard's
// speed checks (bench/dashboard.mjs, 6,000,000 rows) and its plan test (a few hundred thousand).
// Row g of `count`: created (7 days / count) after row g-1, ending now; 1.2% failed, 0.25%
// expired, the newest 20,000 hold pending work (a quarter of them) and 20 running leases, every
// tenth has an idempotence token `token-<g>`; targets, methods and queues cycle.

/** Target, method and queue of row `g`, as the fill writes them. */
export function rowShape(g) {
  const target = ['Orders', 'Mailer', 'Reports'][g % 3];
  const method = ['fulfill', 'send', 'nightly'][g % 3];
  const queue = ['default', 'default', 'default', 'mail', 'reports'][g % 5];
  return { target, method, queue, token: g % 10 === 0 ? `token-${g}` : null };
}

const fillSql = (table) => `
INSERT INTO ${table} (target, method_name, method_args, status, num_attempts, max_attempts,
  queue, idempotence_token, scheduled_at, completed_at, locked_by, locked_until, last_error,
  created_at, updated_at)
SELECT (ARRAY['Orders', 'Mailer', 'Reports'])[g % 3 + 1],
  (ARRAY['fulfill', 'send', 'nightly'])[g % 3 + 1],
  '{"n":' || g || '}',
  s.status, CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END, 25,
  (ARRAY['default', 'default', 'default', 'mail', 'reports'])[g % 5 + 1],
  CASE WHEN g % 10 = 0 THEN 'token-' || g END,
  t.at,
  CASE WHEN s.status IN ('succeeded', 'failed', 'expired') THEN t.at + interval '1 second' END,
  CASE WHEN s.status = 'running' THEN 'worker-' || g % 4 END,
  CASE WHEN s.status = 'running' THEN now() + interval '30 seconds' END,
  CASE WHEN s.status = 'failed' THEN 'Error: upstream timed out' END,
  t.at, t.at
FROM generate_series($1::bigint, $2::bigint) AS g,
  LATERAL (SELECT now() - ($3::bigint - g) * (interval '7 days' / $3::bigint) AS at) AS t,
  LATERAL (SELECT CASE
    WHEN g > $3::bigint - 40 AND g % 2 = 0 THEN 'running'
    WHEN g > $3::bigint - 20000 AND g % 4 = 0 THEN 'pending'
    WHEN g % 83 = 0 THEN 'failed'
    WHEN g % 400 = 0 THEN 'expired'
    ELSE 'succeeded' END AS status) AS s`;

/**
 * Inserts `count` rows into `table` (already quoted) in chunks, then analyses it.
 * `pool` is a node-postgres pool.
 */
export async function fillAttempts(pool, table, count, { chunk = 500_000, onProgress } = {}) {
  for (let from = 1; from <= count; from += chunk) {
    const to = Math.min(count, from + chunk - 1);
    await pool.query(fillSql(table), [from, to, count]);
    onProgress?.(to);
  }
  await pool.query(`VACUUM ANALYZE ${table}`);
}
