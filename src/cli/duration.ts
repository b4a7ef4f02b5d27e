import { InvalidArgumentError } from 'commander';

const unitMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses a duration such as `7d`, `12h`, `30m`, `90s`, `500ms`, `2w` or a sum like `1h30m` into
 * milliseconds. Commander argument parser: throws InvalidArgumentError for anything else.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(trimmed)) {
    throw new InvalidArgumentError(
      'expected a duration such as 7d, 12h, 30m, 90s or 1h30m (units: ms, s, m, h, d, w)',
    );
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) {
    total += Number(amount) * (unitMs[unit ?? ''] ?? 0);
  }
  if (!Number.isSafeInteger(total) || total > 100 * 365 * unitMs['d']!) {
    throw new InvalidArgumentError('the duration is too long (at most 100 years)');
  }
  return total;
}
