// Memory back after load. Under load V8 grows its heap (hundreds of MB of short-lived request garbage)
// and keeps those pages once the load is gone: the process stays at its peak RSS for a long time. When the
// proxy and webhook have been idle for a while and the heap holds much more than it uses, one full
// collection is run, which lets V8 give the pages back. It never runs while requests are being served.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface IdleCollectorOptions {
  /** Requests served so far (any counter that grows with work). */
  activity: () => number;
  /** Idle this long before collecting (default 5 s). */
  idleMs?: number;
  /** Collect only when the heap holds this much more than it uses (default 32 MiB). */
  slackBytes?: number;
  checkEveryMs?: number;
  onCollect?: (before: number, after: number) => void;
}

export function startIdleCollector(opts: IdleCollectorOptions): { stop(): void } {
  // The global gc() without --expose-gc on the command line: the flag takes effect for new contexts.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const idleMs = opts.idleMs ?? 5_000;
  const slack = opts.slackBytes ?? 32 * 1024 * 1024;
  let seen = opts.activity();
  let quietSince = Date.now();
  // The heap's size after the last collection: another one is due only once it has grown past it again
  // (work this counter does not see, such as admission reviews, grows it too).
  let collectedAt = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    const a = opts.activity();
    if (a !== seen) {
      seen = a;
      quietSince = now;
      collectedAt = 0;
      return;
    }
    if (now - quietSince < idleMs) return;
    const h = getHeapStatistics();
    if (h.total_heap_size - h.used_heap_size < slack || h.total_heap_size < collectedAt + slack) return;
    gc();
    collectedAt = getHeapStatistics().total_heap_size;
    opts.onCollect?.(h.total_heap_size, collectedAt);
  }, opts.checkEveryMs ?? 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
