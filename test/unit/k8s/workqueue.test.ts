// The controllers' work queue: one run per key at a time, events during a run queue it once more, failures
// retried with a growing backoff that resets on success, and requeueAfter honoured.
import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from '../../../src/k8s/workqueue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('deduplicates keys queued before they run, and never runs one key twice at once', async () => {
    const runs: string[] = [];
    let concurrent = 0;
    let most = 0;
    const q = new WorkQueue(async (key) => {
      concurrent++;
      most = Math.max(most, concurrent);
      runs.push(key);
      await sleep(20);
      concurrent--;
    });
    q.add('a');
    q.add('a');
    q.add('b');
    q.start();
    await sleep(5);
    q.add('a'); // during a's run: queued once more, after it
    q.add('a');
    await sleep(5);
    await q.idle();
    expect(runs).toEqual(['a', 'b', 'a']);
    expect(most).toBe(1);
    q.stop();
  });

  it('retries a failing key with exponential backoff until it succeeds, then forgets its failures', async () => {
    const at: number[] = [];
    const errors: { key: string; retryInMs: number }[] = [];
    let failuresLeft = 3;
    const q = new WorkQueue(
      async () => {
        at.push(Date.now());
        if (failuresLeft-- > 0) throw new Error('API server said no');
      },
      { baseDelayMs: 40, maxDelayMs: 1000, onError: (key, _err, retryInMs) => errors.push({ key, retryInMs }) },
    ).start();
    q.add('policy');
    for (let i = 0; i < 100 && at.length < 4; i++) await sleep(20);
    expect(at).toHaveLength(4);
    expect(errors).toEqual([{ key: 'policy', retryInMs: 40 }, { key: 'policy', retryInMs: 80 }, { key: 'policy', retryInMs: 160 }]);
    // Each wait at least the backoff asked for.
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(155);
    expect(q.failuresOf('policy')).toBe(0);
    q.stop();
  });

  it('an event for a key waiting out its backoff runs it at once; requeueAfter runs it again later', async () => {
    const runs: number[] = [];
    let fail = true;
    const q = new WorkQueue(
      async () => {
        runs.push(Date.now());
        if (fail) {
          fail = false;
          throw new Error('first run fails');
        }
        return runs.length === 2 ? { requeueAfterMs: 30 } : undefined;
      },
      { baseDelayMs: 60_000 },
    ).start();
    q.add('k');
    await sleep(10);
    expect(runs).toHaveLength(1);
    q.add('k'); // a watch event: no minute-long wait
    for (let i = 0; i < 50 && runs.length < 3; i++) await sleep(10);
    expect(runs).toHaveLength(3);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(25);
    q.stop();
  });

  it('stop drops queued and delayed keys', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => void runs.push(k));
    q.addAfter('later', 20);
    q.stop();
    q.add('after-stop');
    q.start();
    await sleep(40);
    expect(runs).toEqual([]);
  });

  it('stopping while a key runs releases whoever waits for idle once that run ends', async () => {
    let finish: () => void = () => undefined;
    const q = new WorkQueue(() => new Promise<void>((r) => (finish = r))).start();
    q.add('slow');
    await sleep(5);
    const idle = q.idle();
    q.stop();
    finish();
    await expect(idle).resolves.toBeUndefined();
  });
});
