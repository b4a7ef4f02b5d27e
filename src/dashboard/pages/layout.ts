import { html } from 'hono/html';
import type { Attempt, AttemptStatus } from '../../core/attempt.js';
import { storableText } from '../../core/storable-text.js';
import { filterKeys, type AttemptFilter } from '../data.js';

/** A piece of HTML: every value interpolated into `html` is escaped, nested fragments are not. */
export type Html = ReturnType<typeof html>;

/** What every page needs to know about the request that asked for it. */
export interface PageContext {
  /** The dashboard's mount path, '' at the root. */
  readonly base: string;
  /** The CSRF token the page's forms carry. */
  readonly csrf: string;
  readonly readOnly: boolean;
}

export function layout(context: PageContext, title: string, body: Html): Html {
  const { base } = context;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · async-task</title>
        <link rel="icon" href="${base}/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="${base}/assets/uPlot.min.css" />
        <link rel="stylesheet" href="${base}/assets/dashboard.css" />
        <script src="${base}/assets/uPlot.iife.min.js" defer></script>
        <script src="${base}/assets/dashboard.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="${base}/">async-task</a>
          <nav>
            <a href="${base}/">Queues</a>
            <a href="${base}/attempts">Attempts</a>
            <a href="${base}/workers">Workers</a>
            <a href="${base}/schedules">Schedules and limits</a>
          </nav>
          ${context.readOnly ? html`<span class="read-only">read-only</span>` : ''}
        </header>
        <main>${body}</main>
      </body>
    </html>`;
}

/** A time in UTC, to the second; a dash for none. */
export function when(date: Date | null): string {
  return date === null ? '—' : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * A handler's reported progress (`ctx.progress`) as a bar, the percentage and the message cut to
 * `messageLength`; empty when it reported none.
 */
export function progressView(
  attempt: Pick<Attempt, 'progress' | 'progressMessage'>,
  messageLength: number,
): Html | string {
  const { progress, progressMessage } = attempt;
  if (progress === null) return '';
  const percent = `${Math.round(progress * 1000) / 10}%`;
  const message =
    progressMessage === null || progressMessage.length <= messageLength
      ? (progressMessage ?? '')
      : `${storableText(progressMessage, messageLength)}…`;
  return html`<span class="progress"
    ><progress max="1" value="${progress}">${percent}</progress>
    <span class="progress-percent">${percent}</span>
    <span class="progress-message">${message}</span></span
  >`;
}

export function statusBadge(status: AttemptStatus): Html {
  return html`<span class="status status-${status}">${status}</span>`;
}

/** `?status=…&queue=…` for a filter (and a cursor), or '' when empty. */
export function queryString(filter: AttemptFilter, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const key of filterKeys) {
    const value = filter[key];
    if (value !== undefined) params.set(key, value);
  }
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * A hidden input carrying a filter through a form, as one URL-encoded field: a browser submits
 * every line break of a form value as CRLF, so a raw token `a\nb` came back `a\r\nb`, and a
 * selection action took the attempts of another token.
 */
export function filterInputs(filter: AttemptFilter): Html[] {
  const encoded = queryString(filter).slice(1);
  return encoded === '' ? [] : [html`<input type="hidden" name="filter" value="${encoded}" />`];
}

export function csrfInput(context: PageContext): Html {
  return html`<input type="hidden" name="csrf" value="${context.csrf}" />`;
}

/** A page that says what went wrong (the status code is set by the caller). */
export function errorPage(context: PageContext, title: string, message: string): Html {
  return layout(
    context,
    title,
    html`<h1>${title}</h1>
      <p class="error">${message}</p>
      <p><a href="${context.base}/">Back to the queues</a></p>`,
  );
}
