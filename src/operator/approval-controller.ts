// The Approval controller (behind the leader Lease): expires Pending/Approved Approvals past spec.expiresAt
// (a status update with a resourceVersion precondition), keeps each Approval's conditions in line with its
// phase so kstatus readers see a pending one as in progress and a denied or expired one as failed, and
// keeps airlock_approvals_pending current. Reconciles by name from the informer cache through a
// rate-limited work queue: a failed write is retried with backoff, and each Approval is queued again at
// its expiry. A new leader catches up at once: every cached Approval is queued as soon as the cache has
// synced, so whatever fell due while no replica led is expired without waiting for a timer.
import type { Approval } from '../api/types.js';
import { isConflict, isNotFound, type KubeClient } from '../k8s/client.js';
import type { Informer, KObject } from '../k8s/informer.js';
import { WorkQueue, type WorkQueueOptions } from '../k8s/workqueue.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import { approvalPath } from '../approvals/paths.js';
import { isExpired, phaseOf } from '../approvals/rules.js';
import { approvalConditions, conditionsMatch, withConditions } from '../approvals/conditions.js';

export interface ApprovalController {
  stop(): void;
  /** The catch-up, once the informer has synced: resolves with how many Approvals it expired. */
  caughtUp: Promise<number>;
}

export interface ApprovalControllerOptions {
  now?: () => number;
  log?: Logger;
  metrics?: Metrics;
  retry?: Pick<WorkQueueOptions, 'baseDelayMs' | 'maxDelayMs'>;
}

/** Marks one Approval Expired if it is still due; returns whether it changed it. */
export async function expireApproval(client: KubeClient, a: Approval, now: number, metrics?: Metrics): Promise<boolean> {
  let cur = a;
  for (let attempt = 0; attempt < 5; attempt++) {
    const phase = phaseOf(cur);
    if ((phase !== 'Pending' && phase !== 'Approved') || !isExpired(cur, now)) return false;
    try {
      await client.replace(`${approvalPath(cur.metadata.name!)}/status`, withConditions(cur, 'Expired', now, { message: `expired at ${cur.spec.expiresAt} while ${phase}` }));
      metrics?.approvalsTotal.inc({ event: 'expired' });
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

export function startApprovalController(client: KubeClient, informer: Informer<KObject>, opts: ApprovalControllerOptions = {}): ApprovalController {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? silentLogger;
  const metrics = opts.metrics ?? createMetrics();
  let expired = 0;

  const refreshGauge = (): void => {
    if (!informer.hasSynced()) return;
    const t = now();
    metrics.approvalsPending.set(informer.list().filter((o) => phaseOf(o as unknown as Approval) === 'Pending' && !isExpired(o as unknown as Approval, t)).length);
  };

  const reconcile = async (name: string): Promise<{ requeueAfterMs?: number } | void> => {
    const a = informer.get(name) as unknown as Approval | undefined;
    if (!a) return;
    const t = now();
    const phase = phaseOf(a);
    if ((phase === 'Pending' || phase === 'Approved') && isExpired(a, t)) {
      if (await expireApproval(client, a, t, metrics)) expired++;
      return;
    }
    if (!conditionsMatch(a.status?.conditions, approvalConditions(a, phase, t))) {
      try {
        await client.replace(`${approvalPath(name)}/status`, withConditions(a, phase, t));
      } catch (err) {
        // A newer version is on its way through the watch, and will be reconciled in turn.
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    const due = Date.parse(a.spec?.expiresAt);
    if ((phase === 'Pending' || phase === 'Approved') && Number.isFinite(due)) return { requeueAfterMs: due - t + 50 };
  };

  const queue = new WorkQueue(reconcile, {
    ...opts.retry,
    onError: (approval, err, retryInMs) => log.warn('approval reconcile failed; retrying', { approval, error: errorField(err), retryInMs }),
  }).start();
  const enqueue = (o: KObject): void => {
    refreshGauge();
    queue.add(String(o.metadata.name));
  };
  const onSynced = (): void => {
    refreshGauge();
    for (const o of informer.list()) queue.add(String(o.metadata.name));
  };
  informer.on('add', enqueue).on('update', enqueue).on('delete', enqueue).on('synced', onSynced);
  const caughtUp = informer.waitForSync().then(async () => {
    onSynced();
    await queue.idle();
    return expired;
  });
  // The pending gauge also drops as Approvals pass their expiry between events.
  const gaugeTimer = setInterval(refreshGauge, 5000);
  gaugeTimer.unref();
  return {
    caughtUp,
    stop() {
      clearInterval(gaugeTimer);
      queue.stop();
      informer.off('add', enqueue).off('update', enqueue).off('delete', enqueue).off('synced', onSynced);
    },
  };
}
