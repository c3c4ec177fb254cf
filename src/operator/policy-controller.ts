// Watches AgentPolicy objects, loads them into the policy engine, and reports the outcome in status:
// Ready=True (reason Compiled) or Ready=False (reason Invalid, message naming the field), with observedGeneration.
// Every replica loads policies (the proxy and webhook need them); only the leader writes status.
import type { AgentPolicy, Condition } from '../api/types.js';
import type { KubeClient } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import type { CompileResult, PolicyEngine } from '../policy/types.js';
import { policiesLoaded } from '../metrics/registry.js';

export const AGENTPOLICIES_PATH = '/apis/airlock.dev/v1alpha1/agentpolicies';

export interface PolicyControllerOptions {
  client: KubeClient;
  engine: PolicyEngine;
  /** Whether this replica writes status (the leader). Evaluated per update. */
  writeStatus: () => boolean;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  now?: () => Date;
}

/** Builds the Ready condition for a compile result, keeping lastTransitionTime when the status does not change. */
export function readyCondition(result: CompileResult, generation: number, previous: Condition | undefined, now: Date, ruleCount: number): Condition {
  const status: Condition['status'] = result.ok ? 'True' : 'False';
  const reason = result.ok ? 'Compiled' : 'Invalid';
  const message = result.ok
    ? `${ruleCount} rule(s) loaded${result.warnings.length ? `; warnings: ${result.warnings.join('; ')}` : ''}`
    : result.errors.join('; ');
  return {
    type: 'Ready',
    status,
    reason,
    message: message.slice(0, 32768),
    observedGeneration: generation,
    lastTransitionTime: previous && previous.status === status ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

export class PolicyController {
  readonly informer: Informer<AgentPolicy>;
  private readonly results = new Map<string, { generation: number; result: CompileResult }>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PolicyControllerOptions) {
    this.informer = new Informer<AgentPolicy>(opts.client, AGENTPOLICIES_PATH, {
      onError: (err) => opts.log?.('agentpolicy watch error; relisting', { error: String(err) }),
    });
    this.informer.on('add', (p: AgentPolicy) => this.enqueue(p));
    this.informer.on('update', (p: AgentPolicy) => this.enqueue(p));
    this.informer.on('delete', (p: AgentPolicy) => {
      this.opts.engine.remove(String(p.metadata.name));
      this.results.delete(String(p.metadata.name));
      this.updateGauge();
    });
  }

  start(): Promise<void> {
    this.informer.start();
    return this.informer.waitForSync().then(() => this.queue);
  }

  stop(): void {
    this.informer.stop();
  }

  /** Compile results by policy name (for readiness and tests). */
  status(): Map<string, CompileResult> {
    return new Map([...this.results].map(([k, v]) => [k, v.result]));
  }

  /** Re-writes status for every policy (e.g. after becoming leader). */
  resyncStatus(): Promise<void> {
    for (const p of this.informer.list()) this.enqueue(p, true);
    return this.queue;
  }

  private enqueue(p: AgentPolicy, forceStatus = false): void {
    this.queue = this.queue.then(() => this.reconcile(p, forceStatus)).catch((err: unknown) => {
      this.opts.log?.('agentpolicy reconcile failed', { policy: p.metadata.name, error: String(err) });
    });
  }

  private async reconcile(p: AgentPolicy, forceStatus: boolean): Promise<void> {
    const name = String(p.metadata.name);
    const generation = p.metadata.generation ?? 0;
    const cached = this.results.get(name);
    let result: CompileResult;
    if (cached && cached.generation === generation) {
      result = cached.result;
    } else {
      result = await this.opts.engine.upsert(p);
      this.results.set(name, { generation, result });
      this.updateGauge();
      this.opts.log?.(result.ok ? 'agentpolicy loaded' : 'agentpolicy invalid', { policy: name, generation, errors: result.errors });
    }
    if (!this.opts.writeStatus()) return;
    const previous = p.status?.conditions?.find((c) => c.type === 'Ready');
    const ruleCount = p.spec?.rules?.length ?? 0;
    const cond = readyCondition(result, generation, previous, (this.opts.now ?? (() => new Date()))(), ruleCount);
    const upToDate =
      previous &&
      previous.status === cond.status &&
      previous.reason === cond.reason &&
      previous.message === cond.message &&
      previous.observedGeneration === generation &&
      p.status?.observedGeneration === generation &&
      p.status?.rules === ruleCount;
    if (upToDate && !forceStatus) return;
    const others = (p.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    await this.opts.client.patch(`${AGENTPOLICIES_PATH}/${encodeURIComponent(name)}/status`, {
      status: { observedGeneration: generation, rules: ruleCount, conditions: [...others, cond] },
    });
  }

  private updateGauge(): void {
    let ready = 0;
    let invalid = 0;
    for (const { result } of this.results.values()) (result.ok ? ready++ : invalid++);
    policiesLoaded.set({ ready: 'true' }, ready);
    policiesLoaded.set({ ready: 'false' }, invalid);
  }
}
