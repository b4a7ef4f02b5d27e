import { html } from 'hono/html';
import { attemptStatuses, type Attempt } from '../../core/attempt.js';
import { storableText } from '../../core/storable-text.js';
import { actions, appliesTo, selectionLimit, type ActionName } from '../actions.js';
import { searchWindow, type AttemptFilter, type AttemptsPage } from '../data.js';
import {
  csrfInput,
  filterInputs,
  layout,
  progressView,
  queryString,
  statusBadge,
  when,
  type Html,
  type PageContext,
} from './layout.js';

/** A line saying what the last action did, carried in the query string after its redirect. */
export interface Flash {
  readonly action: ActionName;
  readonly done: number;
  readonly skipped: number;
}

export function attemptsPage(
  context: PageContext,
  filter: AttemptFilter,
  { attempts, next, partial }: AttemptsPage,
  flash: Flash | null,
): Html {
  const { base } = context;
  return layout(
    context,
    'Attempts',
    html`<h1>Attempts</h1>
      ${flash ? flashLine(flash) : ''} ${filterForm(context, filter)}
      ${selectionForms(context, filter)}
      <table class="attempts">
        <thead>
          <tr>
            <th scope="col">id</th>
            <th scope="col">status</th>
            <th scope="col">target.method</th>
            <th scope="col">queue</th>
            <th scope="col" class="count">runs</th>
            <th scope="col">progress</th>
            <th scope="col">due</th>
            <th scope="col">completed</th>
            <th scope="col">last error</th>
          </tr>
        </thead>
        <tbody>
          ${
            attempts.length > 0
              ? attempts.map((attempt) => attemptRow(base, attempt))
              : html`<tr>
                  <td colspan="9">No attempt matches.</td>
                </tr>`
          }
        </tbody>
      </table>
      ${partial ? searchedLine(attempts.length, next) : ''}
      <nav class="pager">
        ${
          filterIsEmpty(filter) && next === null && attempts.length === 0
            ? ''
            : html`<a href="${base}/attempts${queryString(filter)}">Newest</a>`
        }
        ${
          next === null
            ? ''
            : html`<a rel="next" href="${base}/attempts${queryString(filter, { before: next })}"
                >${partial ? 'Search older →' : 'Older →'}</a
              >`
        }
      </nav>`,
  );
}

/** Why a page of a filtered search can be short: see searchWindow in data.ts. */
function searchedLine(found: number, next: string | null): Html {
  const text = `${found} match(es) among attempts #${next ?? '?'} and newer: no index serves this filter, so each page searches at most ${searchWindow.toLocaleString('en-US')} attempts.`;
  return html`<p class="note searched">${text}</p>`;
}

function flashLine({ action, done, skipped }: Flash): Html {
  const { past, from } = actions[action];
  const skippedText = skipped > 0 ? `; ${skipped} skipped (no longer ${from.join(' or ')})` : '';
  const text = `${past[0]!.toUpperCase()}${past.slice(1)} ${done} attempt(s)${skippedText}.`;
  return html`<p class="flash" role="status">${text}</p>`;
}

function filterForm(context: PageContext, filter: AttemptFilter): Html {
  const field = (name: 'queue' | 'target' | 'method' | 'token', label: string) =>
    html`<label>${label} <input name="${name}" value="${filter[name] ?? ''}" /></label>`;
  return html`<form class="filters" method="get" action="${context.base}/attempts">
    <label
      >status
      <select name="status">
        <option value="">any</option>
        ${attemptStatuses.map(
          (status) =>
            html`<option value="${status}" ${filter.status === status ? 'selected' : ''}>
              ${status}
            </option>`,
        )}
      </select>
    </label>
    ${field('queue', 'queue')} ${field('target', 'target')} ${field('method', 'method')}
    ${field('token', 'idempotence token')}
    <button type="submit">Filter</button>
  </form>`;
}

/** One button per action that applies to the filtered status, for the whole selection. */
function selectionForms(context: PageContext, filter: AttemptFilter): Html | string {
  const { status } = filter;
  if (context.readOnly || status === undefined) return '';
  const applicable = (Object.keys(actions) as ActionName[]).filter((name) =>
    appliesTo(name, status),
  );
  if (applicable.length === 0) return '';
  return html`<div class="selection">
    ${applicable.map(
      (name) =>
        html`<form method="post" action="${context.base}/actions/${name}">
          ${csrfInput(context)} ${filterInputs(filter)}
          <input type="hidden" name="scope" value="selection" />
          <button type="submit" class="action action-${name}">
            ${actions[name].label} all matching (up to ${selectionLimit})…
          </button>
        </form>`,
    )}
  </div>`;
}

function attemptRow(base: string, attempt: Attempt): Html {
  return html`<tr>
    <td><a href="${base}/attempts/${attempt.id}">${attempt.id}</a></td>
    <td>${statusBadge(attempt.status)}</td>
    <td>${attempt.target}.${attempt.methodName}</td>
    <td>${attempt.queue}</td>
    <td class="count">${attempt.numAttempts}/${attempt.maxAttempts}</td>
    <td class="progress-cell">${progressView(attempt, 40)}</td>
    <td>${when(attempt.scheduledAt)}</td>
    <td>${when(attempt.completedAt)}</td>
    <td class="error-cell">${shortError(attempt.lastError)}</td>
  </tr>`;
}

function shortError(text: string | null): string {
  if (text === null) return '';
  return text.length > 80 ? `${storableText(text, 80)}…` : text;
}

function filterIsEmpty(filter: AttemptFilter): boolean {
  return Object.keys(filter).length === 0;
}
