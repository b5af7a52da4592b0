import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deadlines, type DeadlineEntry } from '../src/proxy/deadlines.js';

function entry(name: string, fired: string[]): DeadlineEntry {
  return { deadlineAt: 0, deadlinePrev: undefined, deadlineNext: undefined, deadlineList: undefined, onDeadline: () => fired.push(name) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deadline list (total timeouts without a timer per exchange)', () => {
  it('expires entries once their timeout has passed, in order, and never those removed first', async () => {
    const fired: string[] = [];
    const d = new Deadlines(60);
    const a = entry('a', fired);
    const b = entry('b', fired);
    const c = entry('c', fired);
    d.add(a);
    await sleep(30);
    d.add(b);
    d.add(c);
    d.remove(b); // finished in time
    assert.equal(d.size, 2);
    await sleep(45); // a is due (75 ms), c is not (45 ms)
    assert.deepEqual(fired, ['a']);
    await sleep(60);
    assert.deepEqual(fired, ['a', 'c'], 'the timer re-armed for the next head');
    assert.equal(d.size, 0);
    d.remove(a); // no-op once expired
    assert.equal(d.size, 0);
  });

  it('removes from the middle, the head and the tail, and re-adds', async () => {
    const fired: string[] = [];
    const d = new Deadlines(20);
    const es = ['a', 'b', 'c', 'd', 'e'].map((n) => entry(n, fired));
    for (const e of es) d.add(e);
    d.remove(es[2]!);
    d.remove(es[0]!);
    d.remove(es[4]!);
    d.add(es[0]!); // a again, now last
    d.add(es[3]!); // re-adding moves it to the end
    assert.equal(d.size, 3);
    await sleep(60);
    assert.deepEqual(fired, ['b', 'a', 'd']);
    d.close();
  });

  it('an entry added to another list leaves the first one', async () => {
    const fired: string[] = [];
    const short = new Deadlines(10);
    const long = new Deadlines(10_000);
    const e = entry('e', fired);
    short.add(e);
    long.add(e);
    assert.equal(short.size, 0);
    assert.equal(long.size, 1);
    await sleep(40);
    assert.deepEqual(fired, []);
    long.remove(e);
    long.close();
    short.close();
  });
});
