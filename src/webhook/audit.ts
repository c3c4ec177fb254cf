// Audit-only rule hits: a core/v1 Event per hit in the object's namespace (reason AirlockAudit) and a
// per-namespace summary ConfigMap `airlock-audit` (one key per policy.rule with a count and the last hit).
// Writes happen after the admission response and never block or fail a request.
import { isConflict, isNotFound, type KubeClient } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import type { AuditHit, RequestAttributes } from '../policy/types.js';
import { explain } from '../policy/verdict.js';

export const AUDIT_CONFIGMAP = 'airlock-audit';

export interface AuditSink {
  record(hits: readonly AuditHit[], req: RequestAttributes, kind: { group: string; version: string; kind: string }): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface KubeAuditSinkOptions {
  client: KubeClient;
  /** Namespace for hits on cluster-scoped objects (default "default"). */
  clusterNamespace?: string;
  /** How often the summary ConfigMaps are written (default 5 s). */
  flushIntervalMs?: number;
  instance?: string;
  /** Where failed writes are reported (they never fail a request). */
  log?: Logger;
}

interface Summary { count: number; lastUser: string; lastVerb: string; lastObject: string; lastAt: string; message: string }

/** ConfigMap keys allow [-._a-zA-Z0-9]. */
export function summaryKey(policy: string, rule: string): string {
  return `${policy}.${rule}`.replace(/[^-._a-zA-Z0-9]/g, '_').slice(0, 253);
}

export class KubeAuditSink implements AuditSink {
  private pending = new Map<string, Map<string, Summary>>(); // namespace -> key -> delta
  private timer: NodeJS.Timeout;
  private inflight: Promise<unknown>[] = [];
  private readonly log: Logger;

  constructor(private readonly opts: KubeAuditSinkOptions) {
    this.log = opts.log ?? silentLogger;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  record(hits: readonly AuditHit[], req: RequestAttributes, kind: { group: string; version: string; kind: string }): void {
    if (!hits.length || req.dryRun) return;
    const ns = req.namespace ?? this.opts.clusterNamespace ?? 'default';
    const now = new Date().toISOString();
    const target = [req.namespace, req.name].filter(Boolean).join('/') || '(unnamed)';
    for (const h of hits) {
      const why = explain(h.explanations);
      const message = `AgentPolicy ${h.policy} rule ${h.rule}: ${req.user.username} ${req.verb} ${req.resource} ${target}: ${h.message}${why ? ` (${why})` : ''}`.slice(0, 1024);
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: 'airlock-audit-', namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'airlock' }, annotations: { 'airlock.dev/policy': h.policy, 'airlock.dev/rule': h.rule, 'airlock.dev/user': req.user.username } },
        involvedObject: {
          apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
          kind: kind.kind,
          name: req.name ?? '',
          ...(req.namespace ? { namespace: req.namespace } : {}),
          ...((req.object?.metadata as { uid?: string } | undefined)?.uid ? { uid: (req.object!.metadata as { uid: string }).uid } : {}),
        },
        reason: 'AirlockAudit',
        message,
        type: 'Warning',
        source: { component: 'airlock-webhook' },
        reportingComponent: 'airlock.dev/webhook',
        reportingInstance: this.opts.instance ?? 'airlock',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      this.track(this.opts.client.create(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event));
      let perNs = this.pending.get(ns);
      if (!perNs) this.pending.set(ns, (perNs = new Map()));
      const key = summaryKey(h.policy, h.rule);
      const prev = perNs.get(key);
      perNs.set(key, { count: (prev?.count ?? 0) + 1, lastUser: req.user.username, lastVerb: req.verb, lastObject: `${req.resource} ${target}`, lastAt: now, message: h.message.slice(0, 512) });
    }
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.log.warn('audit write failed', { error: errorField(err) })).finally(() => {
      this.inflight = this.inflight.filter((x) => x !== q);
    });
    this.inflight.push(q);
  }

  /** Writes the accumulated summaries (read-modify-write with resourceVersion; retried on conflict). */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [ns, deltas] of batch) this.track(this.writeSummary(ns, deltas));
    await Promise.all([...this.inflight]);
  }

  private async writeSummary(ns: string, deltas: Map<string, Summary>): Promise<void> {
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`;
    for (let attempt = 0; attempt < 8; attempt++) {
      let cm: { metadata: Record<string, unknown>; data?: Record<string, string> } | undefined;
      try {
        cm = await this.opts.client.get(`${path}/${AUDIT_CONFIGMAP}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const data: Record<string, string> = { ...(cm?.data ?? {}) };
      for (const [key, d] of deltas) {
        let prevCount = 0;
        try { prevCount = (JSON.parse(data[key] ?? '{}') as { count?: number }).count ?? 0; } catch { /* rewrite a damaged entry */ }
        data[key] = JSON.stringify({ ...d, count: prevCount + d.count });
      }
      try {
        if (cm) await this.opts.client.replace(`${path}/${AUDIT_CONFIGMAP}`, { ...cm, data });
        else await this.opts.client.create(path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: AUDIT_CONFIGMAP, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'airlock' } }, data });
        return;
      } catch (err) {
        if (!isConflict(err)) throw err; // conflict or AlreadyExists: re-read and merge again
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
