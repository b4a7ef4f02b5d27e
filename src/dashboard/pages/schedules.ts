import { html } from 'hono/html';
import type { QueueLimit, ScheduleRow } from '../schedules-data.js';
import { layout, queryString, statusBadge, when, type Html, type PageContext } from './layout.js';

/**
 * The recurring tasks with their next ticks and the newest one enqueued, and the queues with flow
 * control with what they hold now. Both are this process's configuration, not the database's.
 */
export function schedulesPage(
  context: PageContext,
  schedules: readonly ScheduleRow[],
  limits: readonly QueueLimit[],
): Html {
  return layout(
    context,
    'Schedules and limits',
    html`<h1>Schedules and limits</h1>
      <p class="note">
        Schedules and queue limits are the configuration of the process serving this page (its
        AsyncTask's <code>schedules</code> and <code>queues</code>), not the database's: every
        process that runs workers must be given the same.
      </p>
      <h2>Schedules</h2>
      ${schedulesTable(context, schedules)}
      <h2>Queue limits</h2>
      ${limitsTable(context, limits)}`,
  );
}

function schedulesTable(context: PageContext, schedules: readonly ScheduleRow[]): Html {
  if (schedules.length === 0) {
    return html`<p class="note empty">No schedules configured.</p>`;
  }
  return html`<table class="schedules">
      <thead>
        <tr>
          <th scope="col">schedule</th>
          <th scope="col">cron</th>
          <th scope="col">method</th>
          <th scope="col">queue</th>
          <th scope="col" class="count">catch-up</th>
          <th scope="col">next ticks</th>
          <th scope="col">last enqueued tick</th>
        </tr>
      </thead>
      <tbody>
        ${schedules.map(
          (schedule) =>
            html`<tr>
              <th scope="row">${schedule.name}</th>
              <td>
                <code>${schedule.cron}</code>
                <div class="sub">${schedule.timezone}</div>
              </td>
              <td>${schedule.target === null ? '?' : `${schedule.target}.${schedule.method}`}</td>
              <td>${schedule.queue ?? '—'}</td>
              <td class="count">${schedule.catchUp}</td>
              <td>${nextTicks(schedule)}</td>
              <td>${lastTick(context, schedule)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="note">
      The last enqueued tick is the newest attempt a scheduler wrote for the schedule (its token
      <code>schedule:&lt;name&gt;:&lt;tick&gt;</code>); attempts pruned by retention are gone.
    </p>`;
}

function nextTicks(schedule: ScheduleRow): Html | string {
  if (schedule.next.length === 0) return 'never';
  return html`<ol class="ticks">
    ${schedule.next.map(
      (tick) =>
        html`<li>
          <time datetime="${tick.at.toISOString()}">${tick.inZone}</time>
          ${schedule.timezone === 'UTC' ? '' : html`<span class="sub">${when(tick.at)}</span>`}
        </li>`,
    )}
  </ol>`;
}

function lastTick(context: PageContext, schedule: ScheduleRow): Html | string {
  const tick = schedule.lastTick;
  if (tick === null) return html`<span class="sub">none in the table</span>`;
  return html`<a href="${context.base}/attempts/${tick.attemptId}">${when(tick.tick)}</a>
    ${statusBadge(tick.status)}`;
}

function limitsTable(context: PageContext, limits: readonly QueueLimit[]): Html {
  if (limits.length === 0) {
    return html`<p class="note empty">No queue limits configured.</p>`;
  }
  const { base } = context;
  return html`<table class="limits">
      <thead>
        <tr>
          <th scope="col">queue</th>
          <th scope="col" class="count">running / limit</th>
          <th scope="col" class="count">per key</th>
          <th scope="col">rate limit</th>
          <th scope="col" class="count">starts in window</th>
          <th scope="col">fairness</th>
          <th scope="col" class="count">pending</th>
        </tr>
      </thead>
      <tbody>
        ${limits.map(
          (limit) =>
            html`<tr>
              <th scope="row">
                <a href="${base}/attempts${queryString({ queue: limit.queue })}">${limit.queue}</a>
              </th>
              <td class="count">
                ${limit.running} / ${limit.concurrency === null ? 'no limit' : limit.concurrency}
              </td>
              <td class="count">${limit.keyConcurrency}</td>
              <td>${rateText(limit)}</td>
              <td class="count">${startsText(limit)}</td>
              <td>${limit.fairness === 'key' ? 'round-robin by key' : 'due order'}</td>
              <td class="count">
                <a href="${base}/attempts${queryString({ queue: limit.queue, status: 'pending' })}"
                  >${limit.pending}</a
                >
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="note">
      Running and per-key limits count running attempts (an expired lease counts until it is
      rescued); the per-key limit applies to attempts enqueued with a <code>concurrencyKey</code>.
      Starts are claims, a retry's included, counted over a sliding window.
    </p>`;
}

function rateText(limit: QueueLimit): string {
  const rate = limit.rateLimit;
  if (rate === null) return 'none';
  return `${rate.limit} per ${duration(rate.periodMs)}${rate.perKey ? ', per key' : ''}`;
}

function startsText(limit: QueueLimit): Html | string {
  const { started, rateLimit } = limit;
  if (started === null || rateLimit === null) return '—';
  if (!rateLimit.perKey) return `${started.started} / ${rateLimit.limit}`;
  const busiest = started.busiestKey;
  if (busiest === null) return '0';
  return html`${started.started}
    <div class="sub">
      busiest key ${busiest.key ?? '(none)'}: ${busiest.started} / ${rateLimit.limit}
    </div>`;
}

/** A window length as people say it: `1 min`, `90 s`, `250 ms`. */
function duration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) {
    if (ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}
