/** Where progress goes: a TTY gets a single redrawn line, anything else plain periodic lines. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** What is going on, e.g. `fulfilling`. */
  readonly label: string;
  /** Said after the count, e.g. `deleted`. */
  readonly unit?: string;
  /** How many there will be; without it the display is a counter and a rate, with no bar. */
  readonly total?: number;
  /** @defaultValue `process.stderr` */
  readonly stream?: ProgressStream;
  /** Off: nothing is written. @defaultValue true */
  readonly enabled?: boolean;
  /** Least time between redraws on a TTY. @defaultValue 80 */
  readonly redrawMs?: number;
  /** Time between lines when not a TTY. @defaultValue 1000 */
  readonly lineMs?: number;
}

const numbers = new Intl.NumberFormat('en-US');

/** `1234` → `1,234`. */
export function formatCount(n: number): string {
  return numbers.format(n);
}

/** Milliseconds as `850 ms`, `2.4 s`, `3 min 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

/**
 * A progress display for long work, on stderr so that stdout stays data. On a TTY it redraws one
 * line in place (at most every `redrawMs`); elsewhere (CI logs, pipes) it writes a plain line
 * every `lineMs` while the work lasts, and a last one when it ends.
 *
 * @example
 * const progress = new Progress({ label: 'pruning' });
 * progress.update(deleted);
 * progress.finish();
 */
export class Progress {
  readonly #label: string;
  readonly #unit: string;
  readonly #total: number | undefined;
  readonly #stream: ProgressStream;
  readonly #enabled: boolean;
  readonly #tty: boolean;
  readonly #intervalMs: number;
  readonly #started = performance.now();
  #lastDraw: number;
  #done = 0;
  #note = '';
  #drawn = false;
  #finished = false;

  constructor(options: ProgressOptions) {
    this.#label = options.label;
    this.#unit = options.unit === undefined ? '' : ` ${options.unit}`;
    this.#total = options.total;
    this.#stream = options.stream ?? process.stderr;
    this.#enabled = options.enabled ?? true;
    this.#tty = this.#stream.isTTY === true;
    this.#intervalMs = this.#tty ? (options.redrawMs ?? 80) : (options.lineMs ?? 1000);
    // A TTY shows the line at once; a log gets its first line only once the work has taken a while.
    this.#lastDraw = this.#tty ? -Infinity : this.#started;
  }

  /** Sets how many are done (and an optional note after the numbers); redraws when due. */
  update(done: number, note?: string): void {
    if (this.#finished) return;
    this.#done = done;
    if (note !== undefined) this.#note = note;
    const now = performance.now();
    if (now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#draw(false);
  }

  /** Writes a line of its own above the progress line, which is then redrawn. */
  log(line: string): void {
    if (!this.#enabled) return;
    if (this.#tty && this.#drawn) this.#stream.write('\r\x1b[K');
    this.#stream.write(`${line}\n`);
    if (this.#tty && this.#drawn && !this.#finished) this.#draw(false);
  }

  /**
   * Draws the final state and ends the line, if anything was shown (work too short to show
   * progress leaves no trace). Further updates are ignored.
   */
  finish(note?: string): void {
    if (this.#finished) return;
    if (note !== undefined) this.#note = note;
    if (this.#drawn) this.#draw(true);
    this.#finished = true;
  }

  #draw(final: boolean): void {
    if (!this.#enabled) return;
    const elapsedMs = performance.now() - this.#started;
    const text = this.#render(elapsedMs, final);
    if (this.#tty) {
      // A terminal of unknown size (columns 0 under `script`, in some CI runners) gets 80.
      const width = Math.max(20, (this.#stream.columns || 80) - 1);
      this.#stream.write(`\r${text.slice(0, width)}\x1b[K${final ? '\n' : ''}`);
    } else {
      this.#stream.write(`${text}\n`);
    }
    this.#drawn = true;
  }

  #render(elapsedMs: number, final: boolean): string {
    const parts = [this.#label];
    const done = this.#done;
    const total = this.#total;
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, done / total);
      if (this.#tty) parts.push(bar(fraction, 24));
      parts.push(
        `${formatCount(done)}/${formatCount(total)}${this.#unit}`,
        `${Math.floor(fraction * 100)}%`.padStart(4),
      );
    } else {
      parts.push(`${formatCount(done)}${this.#unit}`);
    }
    const seconds = elapsedMs / 1000;
    if (seconds >= 0.2 && done > 0) parts.push(`${formatCount(Math.round(done / seconds))}/s`);
    if (final) parts.push(`in ${formatDuration(elapsedMs)}`);
    else if (total !== undefined && done > 0 && done < total && seconds >= 1) {
      parts.push(`eta ${formatDuration(((total - done) / done) * elapsedMs)}`);
    }
    if (this.#note !== '') parts.push(this.#note);
    return parts.join('  ');
  }
}

function bar(fraction: number, width: number): string {
  const full = Math.round(fraction * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}
