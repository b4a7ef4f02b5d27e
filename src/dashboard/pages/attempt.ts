import { html } from 'hono/html';
import { actions, appliesTo, type ActionName } from '../actions.js';
import { runDuration, timeline, type AttemptDetail, type TimelineEvent } from '../data.js';
import {
  csrfInput,
  layout,
  progressView,
  statusBadge,
  when,
  type Html,
  type PageContext,
} from './layout.js';

/**
 * Every field of one attempt, its last error and its timeline (with the runs its history keeps). Arguments are shown only for a
 * plain attempt: an encrypted one's are never decrypted here (Attempt.args is withheld).
 */
export function attemptPage(context: PageContext, attempt: AttemptDetail): Html {
  const fields: [string, Html | string][] = [
    ['id', attempt.id],
    ['status', statusBadge(attempt.status)],
    ['target', attempt.target],
    ['method', attempt.methodName],
    ['queue', attempt.queue],
    ['priority', String(attempt.priority)],
    ['runs', `${attempt.numAttempts} of at most ${attempt.maxAttempts}`],
    // The message is at most 500 characters (ctx.progress cuts it): shown whole.
    ['progress', attempt.progress === null ? '—' : progressView(attempt, 500)],
    ['idempotence token', attempt.idempotenceToken ?? '—'],
    ['encryptor', attempt.encryptor ?? 'none (plain)'],
    ['due', when(attempt.scheduledAt)],
    ['completed', when(attempt.completedAt)],
    ['leased by', attempt.lockedBy ?? '—'],
    ['lease until', when(attempt.lockedUntil)],
    ['created', when(attempt.createdAt)],
    ['updated', when(attempt.updatedAt)],
  ];
  return layout(
    context,
    `Attempt ${attempt.id}`,
    html`<h1>Attempt ${attempt.id} ${statusBadge(attempt.status)}</h1>
      ${actionForms(context, attempt)}
      <dl class="fields">
        ${fields.map(
          ([name, value]) =>
            html`<dt>${name}</dt>
              <dd>${value}</dd>`,
        )}
      </dl>
      <h2>Arguments</h2>
      ${
        attempt.encryptor === null
          ? html`<pre class="args">${argsText(attempt.args)}</pre>`
          : html`<p class="note encrypted">
              Encrypted with ${attempt.encryptor}: the dashboard never shows encrypted arguments.
            </p>`
      }
      <h2>Last error</h2>
      ${
        attempt.lastError === null
          ? html`<p class="note">None.</p>`
          : html`<pre class="error">${attempt.lastError}</pre>`
      }
      <h2>Timeline</h2>
      <ol class="timeline">
        ${timeline(attempt).map((event) => timelineItem(event))}
      </ol>`,
  );
}

/** One event; a recorded run with its worker, times, duration and error (escaped, as all text). */
function timelineItem(event: TimelineEvent): Html {
  const { run } = event;
  if (!run) return html`<li><time>${when(event.at)}</time> ${event.what}</li>`;
  return html`<li class="run run-${run.outcome.replace(' ', '-')}">
    <time>${when(event.at)}</time> <span class="run-title">${event.what}</span>
    <dl class="run-fields">
      <dt>worker</dt>
      <dd>${run.by ?? '—'}</dd>
      <dt>started</dt>
      <dd>${run.startedAt === null ? 'unknown (lease rescued)' : when(run.startedAt)}</dd>
      <dt>ended</dt>
      <dd>${when(run.endedAt)}</dd>
      <dt>duration</dt>
      <dd>${runDuration(run)}</dd>
    </dl>
    ${run.error === null ? '' : html`<pre class="error run-error">${run.error}</pre>`}
  </li>`;
}

function argsText(args: unknown): string {
  if (args === undefined) return '(arguments could not be decoded)';
  return JSON.stringify(args, null, 2);
}

function actionForms(context: PageContext, attempt: AttemptDetail): Html | string {
  if (context.readOnly) return '';
  const applicable = (Object.keys(actions) as ActionName[]).filter((name) =>
    appliesTo(name, attempt.status),
  );
  if (applicable.length === 0) return '';
  return html`<div class="actions">
    ${applicable.map(
      (name) =>
        html`<form method="post" action="${context.base}/actions/${name}">
          ${csrfInput(context)}
          <input type="hidden" name="id" value="${attempt.id}" />
          <button type="submit" class="action action-${name}">${actions[name].label}…</button>
        </form>`,
    )}
  </div>`;
}

/**
 * The confirmation step of every action: the same form again with `confirmed`, so nothing
 * changes on the first click and no script is needed to ask.
 */
export function confirmPage(
  context: PageContext,
  action: ActionName,
  what: string,
  hidden: Html[],
  back: string,
): Html {
  const { label } = actions[action];
  return layout(
    context,
    `${label}?`,
    html`<h1>${label}?</h1>
      <p class="confirm-question">${label} ${what}?</p>
      <form method="post" action="${context.base}/actions/${action}" class="confirm">
        ${csrfInput(context)} ${hidden}
        <input type="hidden" name="confirmed" value="yes" />
        <button type="submit" class="action action-${action}">Yes, ${label.toLowerCase()}</button>
        <a href="${back}">Cancel</a>
      </form>`,
  );
}

/** A selection action that matches no attempt: nothing to confirm, the way back instead. */
export function nothingSelectedPage(
  context: PageContext,
  action: ActionName,
  described: string,
  back: string,
): Html {
  const { label } = actions[action];
  return layout(
    context,
    `Nothing to ${label.toLowerCase()}`,
    html`<h1>Nothing to ${label.toLowerCase()}</h1>
      <p class="confirm-question">No attempt matches ${described} now.</p>
      <p><a href="${back}">Back to the attempts</a></p>`,
  );
}
