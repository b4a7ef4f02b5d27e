// Types of dashboard-fill.mjs, for the TypeScript test that uses it.
import type pg from 'pg';

export function rowShape(g: number): {
  target: string;
  method: string;
  queue: string;
  token: string | null;
};

export function fillAttempts(
  pool: pg.Pool,
  table: string,
  count: number,
  options?: { chunk?: number; onProgress?: (inserted: number) => void },
): Promise<void>;
