// ApprovalService over the Kubernetes API: Approvals are cluster-scoped airlock.dev objects; etcd is the
// store and resourceVersion preconditions make consumption atomic across replicas.
import { resourceCoordinates } from '../policy/coordinates.js';
import { API_VERSION, type Approval, type ApprovalStatus } from '../api/types.js';
import { withConditions } from './conditions.js';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from '../k8s/client.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import type { RequestAttributes } from '../policy/types.js';
import { parseDuration } from './duration.js';
import { APPROVALS_PATH, FINGERPRINT_LABEL, approvalPath } from './paths.js';
import { fingerprint } from './fingerprint.js';
import type { ApprovalRedactor } from './redact.js';
import { approvalCollection, approvalExec, approvalName, approvalOptions, requestDiff, requestObjectYaml, summarise, type Redact } from './render.js';
import { isExpired, phaseOf, usesLeft } from './rules.js';
import type { ApprovalService, HoldDecision, HoldOutcome } from './types.js';

export { APPROVALS_PATH, FINGERPRINT_LABEL, approvalPath };

export interface KubeApprovalServiceOptions {
  /** Client with the Airlock controller's identity (creates Approvals and consumes uses). */
  client: KubeClient;
  /** Extra labels put on every Approval created (e.g. to scope webhooks in tests). */
  labels?: Record<string, string>;
  /** Identifies this replica in status.consumedBy. */
  replicaId?: string;
  now?: () => number;
  /** Attempts for optimistic-concurrency loops (default 10). */
  maxAttempts?: number;
  /**
   * Hides values in the objects an Approval shows (object and both sides of the diff), e.g.
   * maskingRedactor(masker) from ./redact.ts. Without it only Secret values are redacted.
   */
  redact?: ApprovalRedactor;
  /** Where created and consumed Approvals are counted (default: a registry of the service's own). */
  metrics?: Pick<Metrics, 'approvalsTotal'>;
}

interface ApprovalList { items: Approval[] }

/** Transient API server answers (429 while storage initialises or under load, 503, 504) are retried briefly. */
function transient(err: unknown): boolean {
  const st = (err as { status?: number })?.status;
  return st === 429 || st === 503 || st === 504;
}

async function retrying<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!transient(err) || i >= attempts - 1) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** i)));
    }
  }
}

export class KubeApprovalService implements ApprovalService {
  private readonly client: KubeClient;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly approvalsTotal: Metrics['approvalsTotal'];

  constructor(private readonly opts: KubeApprovalServiceOptions) {
    this.client = opts.client;
    this.now = opts.now ?? Date.now;
    this.maxAttempts = opts.maxAttempts ?? 10;
    this.approvalsTotal = (opts.metrics ?? createMetrics()).approvalsTotal;
  }

  /** Approvals recorded for this exact fingerprint, newest first. */
  async findByFingerprint(fp: string): Promise<Approval[]> {
    const list = await retrying(() => this.client.get<ApprovalList>(APPROVALS_PATH, { query: { labelSelector: `${FINGERPRINT_LABEL}=${fp.slice(0, 40)}` } }));
    return list.items
      .filter((a) => a.spec?.request?.fingerprint === fp)
      .sort((x, y) => String(y.metadata.creationTimestamp ?? '').localeCompare(String(x.metadata.creationTimestamp ?? '')));
  }

  async hold(req: RequestAttributes, decision: HoldDecision): Promise<HoldOutcome> {
    const fp = fingerprint(req);
    // A dry run has its own fingerprint, and no Approval is ever written for one (sideEffects NoneOnDryRun):
    // it never rides on, or consumes, the Approval of the real request.
    if (req.dryRun) return { approval: this.draft(req, decision, fp, 1), state: 'pending' };
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const now = this.now();
      const existing = await this.findByFingerprint(fp);
      const live = existing.filter((a) => !isExpired(a, now));
      for (const a of live.filter((x) => phaseOf(x) === 'Approved' && usesLeft(x) > 0)) {
        const consumed = await this.consume(a, req);
        if (consumed) return { approval: consumed, state: 'approved' };
      }
      const pending = live.find((a) => phaseOf(a) === 'Pending');
      if (pending) return { approval: pending, state: 'pending' };
      const denied = live.find((a) => phaseOf(a) === 'Denied');
      if (denied) return { approval: denied, state: 'denied' };

      const created = await this.createWithFreeName(req, decision, fp, existing);
      if (created) return created;
      // Lost a race with another replica on every candidate name: look again.
    }
    throw new Error(`could not settle an Approval for fingerprint ${fp.slice(0, 12)} after ${this.maxAttempts} attempts`);
  }

  private draft(req: RequestAttributes, decision: HoldDecision, fp: string, n: number): Approval {
    const ttlMs = parseDuration(decision.hold.ttl);
    const redact: Redact | undefined = this.opts.redact && ((obj) => this.opts.redact!(obj, req, decision));
    const options = approvalOptions(req);
    const collection = approvalCollection(req);
    const exec = approvalExec(req);
    const labels: Record<string, string> = {
      ...(this.opts.labels ?? {}),
      [FINGERPRINT_LABEL]: fp.slice(0, 40),
      'app.kubernetes.io/managed-by': 'airlock',
    };
    return {
      apiVersion: API_VERSION,
      kind: 'Approval',
      metadata: { name: approvalName(req, fp, n), labels },
      spec: {
        request: {
          user: req.user.username,
          ...(req.user.uid ? { uid: req.user.uid } : {}),
          groups: req.user.groups.slice(0, 256),
          ...resourceCoordinates(req),
          ...(req.operation ? { operation: req.operation } : {}),
          via: req.via === 'proxy' ? 'proxy' : 'webhook',
          fingerprint: fp,
          summary: summarise(req),
          ...(options ? { options } : {}),
          ...(collection ? { collection } : {}),
          ...(exec ? { exec } : {}),
          diff: requestDiff(req, redact),
          object: requestObjectYaml(req, redact),
        },
        policy: {
          name: decision.matched?.policy ?? '(unknown)',
          rule: decision.matched?.rule ?? '(unknown)',
          ...(decision.reason ? { message: decision.reason.slice(0, 4096) } : {}),
        },
        approvers: { users: [...decision.hold.approvers.users], groups: [...decision.hold.approvers.groups] },
        required: decision.hold.required,
        uses: decision.hold.uses,
        expiresAt: new Date(this.now() + ttlMs).toISOString(),
      },
    };
  }

  private async createWithFreeName(req: RequestAttributes, decision: HoldDecision, fp: string, known: Approval[]): Promise<HoldOutcome | undefined> {
    const taken = new Set(known.map((a) => a.metadata.name));
    for (let n = 1; n <= 50; n++) {
      const draft = this.draft(req, decision, fp, n);
      if (taken.has(draft.metadata.name)) continue;
      try {
        const created = await retrying(() => this.client.create<Approval>(APPROVALS_PATH, draft));
        this.approvalsTotal.inc({ event: 'created' });
        return { approval: await this.initStatus(created), state: 'pending' };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        const other = await retrying(() => this.client.get<Approval>(approvalPath(draft.metadata.name!))).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
        if (!other) return undefined; // deleted meanwhile: start over
        if (other.spec?.request?.fingerprint === fp && !isExpired(other, this.now())) {
          if (phaseOf(other) === 'Pending') return { approval: other, state: 'pending' };
          return undefined; // decided meanwhile: re-evaluate from the top
        }
        // A terminal Approval (or some other object) owns this name: try the next suffix.
      }
    }
    throw new Error(`no free Approval name for fingerprint ${fp.slice(0, 12)}`);
  }

  /** Sets status.phase Pending so tools show it; a concurrent decision wins (conflict ignored). */
  private async initStatus(a: Approval): Promise<Approval> {
    if (a.status?.phase) return a;
    try {
      return await this.client.replace<Approval>(`${approvalPath(a.metadata.name!)}/status`, withConditions(a, 'Pending', this.now(), { decisions: [], usesConsumed: 0 }));
    } catch (err) {
      if (isConflict(err)) return a;
      throw err;
    }
  }

  /**
   * Consumes one use with a resourceVersion precondition; on conflict re-reads and retries while uses are
   * left. Returns the updated Approval, or undefined when nothing is left to consume.
   */
  async consume(a: Approval, req: RequestAttributes): Promise<Approval | undefined> {
    let cur = a;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (phaseOf(cur) !== 'Approved' || usesLeft(cur) <= 0 || isExpired(cur, this.now())) return undefined;
      const used = (cur.status?.usesConsumed ?? 0) + 1;
      const by = `${req.user.username}@${new Date(this.now()).toISOString()}${this.opts.replicaId ? ` (${this.opts.replicaId})` : ''}`;
      const status: ApprovalStatus = {
        ...cur.status,
        usesConsumed: used,
        consumedBy: [...(cur.status?.consumedBy ?? []), by].slice(-1000),
        phase: used >= cur.spec.uses ? 'Consumed' : 'Approved',
      };
      try {
        // Not retried on transient errors: an ambiguous failure must not turn into a second consumed use.
        const updated = await this.client.replace<Approval>(`${approvalPath(cur.metadata.name!)}/status`, { ...cur, status });
        this.approvalsTotal.inc({ event: 'consumed' });
        return updated;
      } catch (err) {
        if (!isConflict(err)) throw err;
        try {
          cur = await retrying(() => this.client.get<Approval>(approvalPath(cur.metadata.name!)));
        } catch (e) {
          if (isNotFound(e)) return undefined;
          throw e;
        }
      }
    }
    return undefined;
  }

  async waitForDecision(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval> {
    const deadline = this.now() + timeoutMs;
    let latest = await this.client.get<Approval>(approvalPath(name));
    while (phaseOf(latest) === 'Pending' && this.now() < deadline && !signal?.aborted) {
      const rv = latest.metadata.resourceVersion ?? '0';
      const remaining = deadline - this.now();
      latest = await new Promise<Approval>((resolve) => {
        let settled = false;
        let last = latest;
        const finish = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', finish);
          handle.stop();
          resolve(last);
        };
        const timer = setTimeout(finish, Math.max(0, Math.min(remaining, 60_000)));
        signal?.addEventListener('abort', finish, { once: true });
        const handle = this.client.watch(APPROVALS_PATH, { fieldSelector: `metadata.name=${name}`, resourceVersion: rv }, (ev) => {
          if (ev.type === 'MODIFIED' || ev.type === 'ADDED') {
            last = ev.object as unknown as Approval;
            if (phaseOf(last) !== 'Pending') finish();
          } else if (ev.type === 'DELETED' || ev.type === 'ERROR') finish();
        });
        handle.done.then(finish, finish);
      });
      // Refresh after each watch round (stream ended, expired or timed out): the source of truth is the server.
      latest = await this.client.get<Approval>(approvalPath(name));
      if (phaseOf(latest) === 'Pending' && this.now() < deadline && !signal?.aborted) await new Promise((r) => setTimeout(r, 100));
    }
    return latest;
  }
}
