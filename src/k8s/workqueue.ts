// A rate-limited work queue of keys, as controller-runtime's: a key is queued at most once however many
// events name it; a key being reconciled is not handed out again until that run ends (an event meanwhile
// queues it once more); a failed reconcile is retried after a per-key exponential backoff, which resets on
// success; a reconcile may ask to be run again after a delay (the next expiry, say).
// Reconcilers read the object by key from an informer's cache, so a retry always acts on the newest state.

export interface ReconcileResult {
  /** Run this key again after this long, even without an event (e.g. at the object's next deadline). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueOptions {
  /** First retry delay after a failure (default 250 ms), doubled for each further failure of that key. */
  baseDelayMs?: number;
  /** Longest retry delay (default 5 min). */
  maxDelayMs?: number;
  /** Called when a reconcile throws, with the key, the error and when it is retried. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly reconcile: Reconciler,
    private readonly opts: WorkQueueOptions = {},
  ) {}

  /** Queues a key now (a pending delayed run of it is superseded). */
  add(key: string): void {
    if (this.stopped) return;
    this.clearTimer(key);
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.wake?.();
  }

  /** Queues a key after a delay (unless it is queued sooner by add). */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const due = Date.now() + Math.max(0, delayMs);
    // The sooner of two delayed runs wins.
    if ((this.timers.get(key)?.due ?? Infinity) <= due) return;
    this.clearTimer(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, Math.min(2 ** 31 - 1, due - Date.now()));
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  /** How many times the key has failed in a row (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys whose last reconcile failed (each waiting for its retry). */
  failing(): string[] {
    return [...this.failures.keys()];
  }

  /** Resolves when nothing is queued or running (keys waiting out a delay do not count). */
  idle(): Promise<void> {
    if (!this.order.length && !this.active.size) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Starts handing keys to the reconciler, one at a time. */
  start(): this {
    if (this.running || this.stopped) return this;
    this.running = true;
    void this.loop();
    return this;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.order.length = 0;
    this.queued.clear();
    this.wake?.();
    this.notifyIdle();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = this.order.shift();
      if (key === undefined) {
        this.notifyIdle();
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      this.queued.delete(key);
      this.active.add(key);
      try {
        const result = await this.reconcile(key);
        this.failures.delete(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = Math.min(this.opts.maxDelayMs ?? 300_000, (this.opts.baseDelayMs ?? 250) * 2 ** (n - 1));
        this.opts.onError?.(key, err, delay);
        this.addAfter(key, delay);
      } finally {
        this.active.delete(key);
        if (this.dirty.delete(key)) this.add(key);
      }
    }
    // Stopped while a key ran: whoever waits for idle is released now.
    this.notifyIdle();
  }

  private clearTimer(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t.timer);
    this.timers.delete(key);
  }

  private notifyIdle(): void {
    if (this.order.length || this.active.size) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
