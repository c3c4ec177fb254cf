// Watches AgentPolicy objects, loads them into the policy engine, and reports the outcome in status:
// Ready=True (reason Compiled), or Ready=False with Stalled=True (reason Invalid, message naming the field),
// with observedGeneration. Stalled is what kstatus readers (Flux, Argo CD, kpt, `kubectl wait`-style tools)
// take as failed: an invalid spec does not heal by waiting, so it must not read as still in progress.
// Every replica loads policies (the proxy and webhook need them); only the leader writes status.
// Reconciles by name from the informer cache through a rate-limited work queue: a failed status write is
// retried with backoff, and always with the newest object.
import type { AgentPolicy, Condition } from '../api/types.js';
import type { KubeClient } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import { condition } from '../k8s/conditions.js';
import { WorkQueue, type WorkQueueOptions } from '../k8s/workqueue.js';
import type { CompileResult, PolicyEngine } from '../policy/types.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { errorField, silentLogger, type Logger } from '../log.js';

export const AGENTPOLICIES_PATH = '/apis/airlock.dev/v1alpha1/agentpolicies';

export interface PolicyControllerOptions {
  client: KubeClient;
  engine: PolicyEngine;
  /** Whether this replica writes status (the leader). Evaluated per reconcile. */
  writeStatus: () => boolean;
  log?: Logger;
  metrics?: Metrics;
  now?: () => Date;
  /** Retry timing of failed reconciles (tests shorten it). */
  retry?: Pick<WorkQueueOptions, 'baseDelayMs' | 'maxDelayMs'>;
}

/** Builds the Ready condition for a compile result, keeping lastTransitionTime when the status does not change. */
export function readyCondition(result: CompileResult, generation: number, previous: Condition | undefined, now: Date, ruleCount: number): Condition {
  const message = result.ok
    ? `${ruleCount} rule(s) loaded${result.warnings.length ? `; warnings: ${result.warnings.join('; ')}` : ''}`
    : result.errors.join('; ');
  return condition('Ready', result.ok ? 'True' : 'False', result.ok ? 'Compiled' : 'Invalid', message, generation, previous ? [previous] : undefined, now);
}

/**
 * Every condition this controller owns, for a compile result: Ready always; Stalled=True only while the
 * spec is invalid (a valid policy carries no Stalled condition, which kstatus reads as not stalled).
 */
export function policyConditions(result: CompileResult, generation: number, previous: Condition[] | undefined, now: Date, ruleCount: number): Condition[] {
  const ready = readyCondition(result, generation, previous?.find((c) => c.type === 'Ready'), now, ruleCount);
  if (result.ok) return [ready];
  return [ready, condition('Stalled', 'True', 'Invalid', `the spec is invalid and will not load until it is fixed: ${ready.message}`, generation, previous, now)];
}

const OWNED = new Set(['Ready', 'Stalled', 'Reconciling']);

export class PolicyController {
  readonly informer: Informer<AgentPolicy>;
  private readonly results = new Map<string, { generation: number; result: CompileResult }>();
  private readonly forceStatus = new Set<string>();
  private readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly metrics: Metrics;

  constructor(private readonly opts: PolicyControllerOptions) {
    this.log = opts.log ?? silentLogger;
    this.metrics = opts.metrics ?? createMetrics();
    this.informer = new Informer<AgentPolicy>(opts.client, AGENTPOLICIES_PATH, {
      onError: (err) => this.log.warn('agentpolicy watch error; relisting', { error: errorField(err) }),
    });
    this.queue = new WorkQueue((name) => this.reconcile(name), {
      ...opts.retry,
      onError: (policy, err, retryInMs) => this.log.warn('agentpolicy reconcile failed; retrying', { policy, error: errorField(err), retryInMs }),
    });
    const enqueue = (p: AgentPolicy): void => this.queue.add(String(p.metadata.name));
    this.informer.on('add', enqueue).on('update', enqueue).on('delete', enqueue);
  }

  /** Resolves once the cache has synced and every policy in it has been loaded into the engine. */
  async start(): Promise<void> {
    this.queue.start();
    this.informer.start();
    await this.informer.waitForSync();
    await this.queue.idle();
  }

  stop(): void {
    this.queue.stop();
    this.informer.stop();
  }

  /** Compile results by policy name (for readiness and tests). */
  status(): Map<string, CompileResult> {
    return new Map([...this.results].map(([k, v]) => [k, v.result]));
  }

  /** Policies whose last reconcile failed and waits for its retry. */
  retrying(): string[] {
    return this.queue.failing();
  }

  /** Re-writes status for every policy (after becoming leader); resolves when the queue has run them. */
  resyncStatus(): Promise<void> {
    for (const p of this.informer.list()) {
      const name = String(p.metadata.name);
      this.forceStatus.add(name);
      this.queue.add(name);
    }
    return this.queue.idle();
  }

  private async reconcile(name: string): Promise<void> {
    const p = this.informer.get(name);
    if (!p) {
      this.opts.engine.remove(name);
      this.results.delete(name);
      this.forceStatus.delete(name);
      this.updateGauge();
      return;
    }
    const generation = p.metadata.generation ?? 0;
    const cached = this.results.get(name);
    let result: CompileResult;
    if (cached && cached.generation === generation) {
      result = cached.result;
    } else {
      result = await this.opts.engine.upsert(p);
      this.results.set(name, { generation, result });
      this.updateGauge();
      this.log.info(result.ok ? 'agentpolicy loaded' : 'agentpolicy invalid', { policy: name, generation, errors: result.errors });
    }
    if (!this.opts.writeStatus()) return;
    const previous = p.status?.conditions;
    const ruleCount = p.spec?.rules?.length ?? 0;
    const conditions = policyConditions(result, generation, previous, (this.opts.now ?? (() => new Date()))(), ruleCount);
    const same = (a: Condition, b: Condition | undefined): boolean =>
      !!b && a.status === b.status && a.reason === b.reason && a.message === b.message && a.observedGeneration === b.observedGeneration;
    const upToDate =
      conditions.every((c) => same(c, previous?.find((x) => x.type === c.type))) &&
      (previous ?? []).filter((c) => OWNED.has(c.type)).length === conditions.length &&
      p.status?.observedGeneration === generation &&
      p.status?.rules === ruleCount;
    if (upToDate && !this.forceStatus.has(name)) return;
    const others = (previous ?? []).filter((c) => !OWNED.has(c.type));
    // A merge patch replaces the conditions list whole, so a Stalled condition left from an invalid spec goes.
    await this.opts.client.patch(`${AGENTPOLICIES_PATH}/${encodeURIComponent(name)}/status`, {
      status: { observedGeneration: generation, rules: ruleCount, conditions: [...others, ...conditions] },
    });
    this.forceStatus.delete(name);
  }

  private updateGauge(): void {
    let ready = 0;
    let invalid = 0;
    for (const { result } of this.results.values()) (result.ok ? ready++ : invalid++);
    this.metrics.policiesLoaded.set({ ready: 'true' }, ready);
    this.metrics.policiesLoaded.set({ ready: 'false' }, invalid);
  }
}
