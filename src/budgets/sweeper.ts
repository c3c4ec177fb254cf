// Deletes BudgetUsage objects with nothing left in their window (an agent idle for longer than the window,
// a scope no longer used, a budget removed from its policy), so their number stays bounded by what is
// live. Runs behind the leader Lease. Each delete carries the resourceVersion it judged: a replica that
// charged the object meanwhile makes the delete fail, and the ledger re-creates an object deleted under it.
import type { BudgetUsage } from '../api/types.js';
import { isConflict, isNotFound } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import { budgetUsagesPath, windowOf } from './ledger.js';
import { parseDurationMs } from '../proxy/duration.js';

export interface SweepClient {
  get<T>(path: string): Promise<T>;
  delete<T>(path: string, opts?: { body?: unknown }): Promise<T>;
}

export interface BudgetSweeper {
  /** One pass now: resolves with how many objects it deleted. */
  sweep(): Promise<number>;
  stop(): void;
}

export function startBudgetSweeper(client: SweepClient, namespace: string, opts: { intervalMs?: number; now?: () => number; log?: Logger } = {}): BudgetSweeper {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? silentLogger;
  const path = budgetUsagesPath(namespace);
  const sweep = async (): Promise<number> => {
    const list = await client.get<{ items: BudgetUsage[] }>(path);
    let deleted = 0;
    for (const u of list.items) {
      if (windowOf(u, { limit: u.spec.limit, windowMs: parseDurationMs(u.spec.window, Infinity) }, now()).live.length) continue;
      try {
        await client.delete(`${path}/${encodeURIComponent(u.metadata.name!)}`, { body: { preconditions: { resourceVersion: u.metadata.resourceVersion } } });
        deleted++;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    return deleted;
  };
  const timer = setInterval(() => void sweep().catch((err: unknown) => log.warn('budget sweep failed; retrying at the next interval', { error: errorField(err) })), opts.intervalMs ?? 600_000);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
