// migrate(): versioned, idempotent, safe when run concurrently; nothing works before it.
import { describe, expect, it } from 'vitest';
import { SchemaOutdatedError } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { noteTarget } from '../harness/note-target.js';
import { fixtures } from '../harness/dialects.js';
import { newTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

function expectSchemaOutdated(error: unknown): void {
  expect(error).toBeInstanceOf(SchemaOutdatedError);
  expect(error).toMatchObject({ code: 'SCHEMA_OUTDATED', name: 'SchemaOutdatedError' });
  expect((error as Error).message).toContain('migrate');
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('applies every migration once, then nothing on a second call', async () => {
      const { target } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });

      const first = await tasks.migrate();
      const second = await tasks.migrate();
      const fromAnother = await newTasks(harness(), { targets: [target] }).migrate();

      expect(first.applied.length).toBeGreaterThan(0);
      expect(first.applied[0]).toBe(1);
      expect(first.applied).toEqual([...first.applied].sort((a, b) => a - b));
      expect(second.applied).toEqual([]);
      expect(fromAnother.applied).toEqual([]);
      expect(await harness().countAttempts()).toBe(0);
    });

    it('lets 5 AsyncTasks migrate at once: all succeed, each migration applied once', async () => {
      const { target, ran } = noteTarget();
      const instances = Array.from({ length: 5 }, () => newTasks(harness(), { targets: [target] }));

      const results = await Promise.all(instances.map((tasks) => tasks.migrate()));

      const applied = results.flatMap((result) => result.applied).sort((a, b) => a - b);
      expect(applied.length).toBeGreaterThan(0);
      expect(new Set(applied).size).toBe(applied.length);
      expect(results.filter((result) => result.applied.length > 0)).toHaveLength(1);
      expect(await harness().countAttempts()).toBe(0);
      // The one table works for all of them.
      await harness().transaction((tx) => instances[0]!.enqueue(tx, target.write, { text: 'hi' }));
      expect(await instances[4]!.runDue()).toMatchObject({ succeeded: 1 });
      expect(ran).toEqual(['hi']);
    });

    it('refuses runDue before migrate with SchemaOutdatedError, and runs after it', async () => {
      const { target, ran } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });

      expectSchemaOutdated(await caught(tasks.runDue()));
      // Asking again still refuses: a failed check is not remembered as a pass.
      expectSchemaOutdated(await caught(tasks.runDue()));

      await newTasks(harness(), { targets: [target] }).migrate();
      await tasks.enqueue(harness().pool, target.write, { text: 'after' });
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(ran).toEqual(['after']);
    });

    it('refuses enqueue before migrate with SchemaOutdatedError', async () => {
      const { target } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });

      expectSchemaOutdated(
        await caught(() => tasks.enqueue(harness().pool, target.write, { text: 'x' })),
      );
      expectSchemaOutdated(
        await caught(harness().transaction((tx) => tasks.enqueue(tx, target.write, { text: 'y' }))),
      );
      expectSchemaOutdated(
        await caught(
          harness().transaction((tx) =>
            tasks.enqueueMany(tx, [{ method: target.write, args: { text: 'z' } }]),
          ),
        ),
      );
    });

    it('refuses get, list and the transitions before migrate with SchemaOutdatedError', async () => {
      const { target } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });

      expectSchemaOutdated(await caught(tasks.get('1')));
      expectSchemaOutdated(await caught(tasks.list({})));
      expectSchemaOutdated(await caught(tasks.expire('1')));
      expectSchemaOutdated(await caught(tasks.retry('1')));
    });
  });
}
