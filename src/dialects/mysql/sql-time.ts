import { ConfigError } from '../../core/errors.js';

/** 'YYYY-MM-DD hh:mm:ss.fff' in UTC: what DATETIME(3) columns hold. */
export function sqlTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 1000 && year <= 9999)) {
    throw new ConfigError(
      `MySQL stores times from year 1000 to 9999; ${Number.isNaN(year) ? 'an invalid date' : date.toISOString()} is outside that range`,
    );
  }
  return date.toISOString().replace('T', ' ').slice(0, 23);
}

/** A retention in milliseconds as an INTERVAL … MICROSECOND parameter; null stays null. */
export function microseconds(ms: number | null): number | null {
  return ms === null ? null : ms * 1000;
}
