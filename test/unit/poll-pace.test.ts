// The waits of a worker without notifications after a claim that fell short: soon after one that
// took something, then twice as long after each empty one, up to the poll interval.
import { describe, expect, it } from 'vitest';
import { PollPace } from '../../src/worker/poll-pace.js';

describe('poll pace', () => {
  it('waits the poll interval until a claim takes something', () => {
    const pace = new PollPace(1000);
    expect([pace.after(0), pace.after(0)]).toEqual([1000, 1000]);
  });

  it('looks again soon after a claim that took something, then backs off to the interval', () => {
    const pace = new PollPace(1000);
    const waits = [pace.after(3)];
    for (let i = 0; i < 9; i++) waits.push(pace.after(0));
    expect(waits).toEqual([10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
  });

  it('starts over at each claim that takes something', () => {
    const pace = new PollPace(1000);
    expect([pace.after(1), pace.after(0), pace.after(0), pace.after(2), pace.after(0)]).toEqual([
      10, 20, 40, 10, 20,
    ]);
  });

  it('waits the poll interval while notifications arrive, and soon again once they stop', () => {
    let listening = true;
    const pace = new PollPace(1000, () => listening);
    const waits = [pace.after(5), pace.after(0)];
    listening = false;
    waits.push(pace.after(5), pace.after(0));
    expect(waits).toEqual([1000, 1000, 10, 20]);
  });

  it('waits no longer than a flow limit asks', () => {
    const pace = new PollPace(1000);
    expect([pace.after(0, 250), pace.after(1, 5), pace.after(0, 250)]).toEqual([250, 5, 20]);
  });

  it('never waits longer than a short poll interval', () => {
    const pace = new PollPace(4);
    expect([pace.after(1), pace.after(0), pace.after(1)]).toEqual([4, 4, 4]);
  });
});
