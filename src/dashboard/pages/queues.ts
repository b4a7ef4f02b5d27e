import { html } from 'hono/html';
import { attemptStatuses } from '../../core/attempt.js';
import type { WorkerInfo } from '../../core/worker-info.js';
import type { QueueCounts } from '../data.js';
import { layout, queryString, when, type Html, type PageContext } from './layout.js';

/**
 * Counts per queue and status (each a link to those attempts), the last hour's outcomes as two
 * charts (drawn by dashboard.js from the outcomes API), and the live workers in short.
 */
export function queuesPage(
  context: PageContext,
  queues: readonly QueueCounts[],
  workers: readonly WorkerInfo[],
): Html {
  const { base } = context;
  const rows = queues.map(
    ({ queue, counts }) =>
      html`<tr>
        <th scope="row"><a href="${base}/attempts${queryString({ queue })}">${queue}</a></th>
        ${attemptStatuses.map((status) => {
          const cell = counts[status];
          if (!cell) return html`<td class="count zero">0</td>`;
          const text = `${cell.approximate ? '~' : ''}${cell.count.toLocaleString('en-US')}`;
          return html`<td class="count">
            <a href="${base}/attempts${queryString({ queue, status })}">${text}</a>
          </td>`;
        })}
      </tr>`,
  );
  return layout(
    context,
    'Queues',
    html`<h1>Queues</h1>
      <table class="counts">
        <thead>
          <tr>
            <th scope="col">queue</th>
            ${attemptStatuses.map((status) => html`<th scope="col" class="count">${status}</th>`)}
          </tr>
        </thead>
        <tbody>
          ${
            rows.length > 0
              ? rows
              : html`<tr>
                  <td colspan="6">No attempts yet.</td>
                </tr>`
          }
        </tbody>
      </table>
      <p class="note">
        ~ marks an estimate: on a large table succeeded attempts are counted from a sample.
      </p>
      <h2>Last hour</h2>
      <div class="charts">
        <figure>
          <figcaption>Outcomes per minute</figcaption>
          <div class="chart" data-chart="throughput" data-src="${base}/api/outcomes"></div>
        </figure>
        <figure>
          <figcaption>Failure rate per minute (%)</figcaption>
          <div class="chart" data-chart="failure-rate" data-src="${base}/api/outcomes"></div>
        </figure>
      </div>
      <p class="note">
        Final outcomes only: a run that fails with retries left is counted when the attempt ends.
      </p>
      <h2>Workers</h2>
      ${workersTable(base, workers)}`,
  );
}

function workersTable(base: string, workers: readonly WorkerInfo[]): Html {
  if (workers.length === 0) return html`<p class="note">No worker is running now.</p>`;
  return html`<table>
      <thead>
        <tr>
          <th scope="col">worker</th>
          <th scope="col">host</th>
          <th scope="col" class="count">running</th>
          <th scope="col">last seen</th>
        </tr>
      </thead>
      <tbody>
        ${workers.map(
          (worker) =>
            html`<tr>
              <td>${worker.id}</td>
              <td>${worker.hostname}</td>
              <td class="count">${worker.running}</td>
              <td>${when(worker.lastSeenAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="note"><a href="${base}/workers">Every live worker, in detail</a></p>`;
}
