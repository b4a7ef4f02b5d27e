import { html } from 'hono/html';
import type { WorkerInfo } from '../../core/worker-info.js';
import { layout, when, type Html, type PageContext } from './layout.js';

/** The live workers, from the worker registry (`tasks.workers()`), oldest first. */
export function workersPage(context: PageContext, workers: readonly WorkerInfo[]): Html {
  const rows = workers.map(
    (worker) =>
      html`<tr>
        <td>${worker.id}</td>
        <td>${worker.hostname}</td>
        <td class="count">${worker.pid}</td>
        <td>
          ${worker.queues === null ? html`<span class="note">all</span>` : worker.queues.join(', ')}
        </td>
        <td class="count">${worker.concurrency}</td>
        <td class="count">${worker.running}</td>
        <td>${when(worker.startedAt)}</td>
        <td>${when(worker.lastSeenAt)}</td>
      </tr>`,
  );
  return layout(
    context,
    'Workers',
    html`<h1>Workers</h1>
      <table>
        <thead>
          <tr>
            <th scope="col">worker</th>
            <th scope="col">host</th>
            <th scope="col" class="count">pid</th>
            <th scope="col">queues</th>
            <th scope="col" class="count">concurrency</th>
            <th scope="col" class="count">running now</th>
            <th scope="col">started</th>
            <th scope="col">last seen</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length > 0
              ? rows
              : html`<tr>
                  <td colspan="8">No worker is running now.</td>
                </tr>`
          }
        </tbody>
      </table>
      <p class="note">
        Each worker writes its row when it starts and at every heartbeat, and removes it when it
        stops. One that died without stopping stays listed for three heartbeats (at least a lease)
        after its last. Running: the attempts it held at its last heartbeat.
      </p>`,
  );
}
