// The expiry controller: marks Pending/Approved Approvals past spec.expiresAt as Expired (status update with
// a resourceVersion precondition) and keeps airlock_approvals_pending current. Driven by an Informer.
// It runs behind the leader Lease; a new leader catches up at once: its first pass runs as soon as the
// informer has synced (immediately when it already has), expiring everything that fell due while no
// replica led, without waiting for the interval or a per-Approval timer.
import type { Approval } from '../api/types.js';
import { isConflict, isNotFound, type KubeClient } from '../k8s/client.js';
import type { Informer, KObject } from '../k8s/informer.js';
import { approvalsPending, approvalsTotal } from '../metrics/registry.js';
import { approvalPath } from './paths.js';
import { isExpired, phaseOf } from './rules.js';

export interface ExpiryController {
  stop(): void;
  /** Runs one pass now (expires what is due, refreshes the gauge); resolves with how many it expired. */
  sweep(): Promise<number>;
  /** The first pass (the catch-up), once the informer has synced: resolves with how many it expired. */
  caughtUp: Promise<number>;
}

export interface ExpiryOptions {
  /** Pass interval (default 5 s); a timer is also set for the next expiresAt. */
  intervalMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Marks one Approval Expired if it is still due; returns whether it changed it. */
export async function expireApproval(client: KubeClient, a: Approval, now: number): Promise<boolean> {
  let cur = a;
  for (let attempt = 0; attempt < 5; attempt++) {
    const phase = phaseOf(cur);
    if ((phase !== 'Pending' && phase !== 'Approved') || !isExpired(cur, now)) return false;
    try {
      await client.replace(`${approvalPath(cur.metadata.name!)}/status`, {
        ...cur,
        status: { ...cur.status, phase: 'Expired', message: `expired at ${cur.spec.expiresAt} while ${phase}` },
      });
      approvalsTotal.inc({ event: 'expired' });
      return true;
    } catch (err) {
      if (!isConflict(err)) throw err;
      try {
        cur = await client.get<Approval>(approvalPath(cur.metadata.name!));
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    }
  }
  return false;
}

export function startExpiryController(client: KubeClient, informer: Informer<KObject>, opts: ExpiryOptions = {}): ExpiryController {
  const now = opts.now ?? Date.now;
  let stopped = false;
  let running: Promise<number> | undefined;
  let nextTimer: NodeJS.Timeout | undefined;

  const refreshGauge = (): void => {
    if (!informer.hasSynced()) return;
    const t = now();
    approvalsPending.set(informer.list().filter((o) => phaseOf(o as unknown as Approval) === 'Pending' && !isExpired(o as unknown as Approval, t)).length);
  };

  const schedule = (): void => {
    if (stopped) return;
    clearTimeout(nextTimer);
    const t = now();
    const due = informer
      .list()
      .map((o) => o as unknown as Approval)
      .filter((a) => phaseOf(a) === 'Pending' || phaseOf(a) === 'Approved')
      .map((a) => Date.parse(a.spec?.expiresAt))
      .filter((x) => Number.isFinite(x) && x > t);
    if (!due.length) return;
    nextTimer = setTimeout(() => void sweep(), Math.min(2 ** 31 - 1, Math.min(...due) - t + 50));
    nextTimer.unref();
  };

  const sweep = async (): Promise<number> => {
    if (running) return running;
    running = (async () => {
      let expired = 0;
      try {
        if (stopped || !informer.hasSynced()) return 0;
        const t = now();
        for (const o of informer.list()) {
          if (stopped) return expired;
          const a = o as unknown as Approval;
          try {
            if (await expireApproval(client, a, t)) expired++;
          } catch (err) {
            opts.onError?.(err);
          }
        }
        return expired;
      } finally {
        refreshGauge();
        schedule();
        running = undefined;
      }
    })();
    return running;
  };

  const onChange = (): void => { refreshGauge(); schedule(); };
  informer.on('add', onChange);
  informer.on('update', onChange);
  informer.on('delete', onChange);
  const onSynced = (): void => void sweep();
  informer.on('synced', onSynced);
  const interval = setInterval(() => void sweep(), opts.intervalMs ?? 5000);
  interval.unref();
  // The catch-up pass: at once when the informer has synced, else as soon as it does.
  const caughtUp = informer.waitForSync().then(() => sweep());
  return {
    caughtUp,
    stop() {
      stopped = true;
      clearInterval(interval);
      clearTimeout(nextTimer);
      informer.off('add', onChange);
      informer.off('update', onChange);
      informer.off('delete', onChange);
      informer.off('synced', onSynced);
    },
    sweep,
  };
}
