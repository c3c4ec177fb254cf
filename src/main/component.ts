// The unit the composition root starts: a named component, started in order with the dependencies it
// needs, stopped in reverse. leaderOnly components run on the replica holding the controller Lease only:
// started when it starts leading, stopped when it stops. Tests start any subset, with fakes for deps.
import { errorField, type Logger } from '../log.js';

/** What start returns: called (and awaited) on shutdown or, for leaderOnly components, on losing the Lease. */
export type Stop = () => Promise<void> | void;

export interface Component<D> {
  name: string;
  leaderOnly: boolean;
  /** Resolves once the component serves; signal aborts when the process stops (or leadership ends). */
  start(deps: D, signal: AbortSignal): Promise<Stop | void>;
}

export interface RunningComponents {
  /** Names of the components started, in order. */
  readonly started: readonly string[];
  /** Stops them in reverse order; a failing stop is logged and the others still run. */
  stop(): Promise<void>;
}

/** Starts components in order (those whose leaderOnly matches `leaderOnly`); a failed start stops the ones before it. */
export async function startComponents<D>(components: readonly Component<D>[], deps: D, opts: { log: Logger; leaderOnly: boolean; signal?: AbortSignal }): Promise<RunningComponents> {
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const stops: { name: string; stop: Stop }[] = [];
  const started: string[] = [];
  const stop = async (): Promise<void> => {
    abort.abort();
    opts.signal?.removeEventListener('abort', onOuterAbort);
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
      } catch (err) {
        opts.log.warn('component stop failed', { component: s.name, error: errorField(err) });
      }
    }
  };
  for (const c of components) {
    if (c.leaderOnly !== opts.leaderOnly) continue;
    try {
      const s = await c.start(deps, abort.signal);
      if (s) stops.push({ name: c.name, stop: s });
      started.push(c.name);
      opts.log.debug('component started', { component: c.name });
    } catch (err) {
      await stop();
      throw new Error(`${c.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return { started, stop };
}

/** Runs the leaderOnly components for as long as `signal` (the term of leadership) lasts. */
export async function lead<D>(components: readonly Component<D>[], deps: D, signal: AbortSignal, log: Logger): Promise<void> {
  const running = await startComponents(components, deps, { log, leaderOnly: true, signal });
  if (!signal.aborted) await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  await running.stop();
}

/** Calls fn until it succeeds, backing off up to 5 s, unless the signal aborts. */
export async function retry<T>(what: string, fn: () => Promise<T>, log: Logger, signal?: AbortSignal): Promise<T> {
  let delay = 250;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw err;
      log.warn(`${what} failed; retrying`, { error: errorField(err), retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(5000, delay * 2);
    }
  }
}
