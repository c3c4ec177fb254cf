// Recording records as Kubernetes audit events (audit.k8s.io/v1 Event, level RequestResponse, stage
// ResponseComplete), so tools that read kube-apiserver audit logs can read Airlock's too.
import { open, type FileHandle } from 'node:fs/promises';
import { jsonWithTexts } from './record-line.js';
import type { RecordingMetrics, RequestRecord } from './types.js';

export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: 'RequestResponse';
  auditID: string;
  stage: 'ResponseComplete';
  requestURI: string;
  verb: string;
  user: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
  responseStatus: { metadata: Record<string, never>; code: number; status?: string; message?: string };
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations: Record<string, string>;
}

/** RFC 3339 with microseconds, as kube-apiserver writes audit timestamps. */
export function microTime(ms: number): string {
  const d = new Date(ms);
  const frac = Math.round((ms - Math.floor(ms)) * 1000);
  return d.toISOString().replace(/\.(\d{3})Z$/, (_m, millis: string) => `.${millis}${String(frac).padStart(3, '0')}Z`);
}

/** Audit events describe API requests: session-start/end records have none. */
export function isAuditable(rec: RequestRecord): boolean {
  return rec.type === 'request' || rec.type === 'exec';
}

export function toAuditEvent(rec: RequestRecord): AuditEvent {
  const received = Date.parse(rec.time);
  const start = Number.isFinite(received) ? received : 0;
  const r = rec.request;
  const annotations: Record<string, string> = {
    'airlock.dev/decision': rec.decision.action,
    'airlock.dev/session': rec.sessionId,
  };
  if (rec.decision.policy) annotations['airlock.dev/policy'] = rec.decision.policy;
  if (rec.decision.rule) annotations['airlock.dev/rule'] = rec.decision.rule;
  if (rec.decision.reason) annotations['airlock.dev/reason'] = rec.decision.reason;
  if (rec.decision.approval) annotations['airlock.dev/approval'] = rec.decision.approval;
  if (rec.seq !== undefined) annotations['airlock.dev/seq'] = String(rec.seq);
  if (rec.hash) annotations['airlock.dev/record-hash'] = rec.hash;
  if (rec.asciicast) annotations['airlock.dev/asciicast'] = rec.asciicast;
  const ev: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: rec.requestId,
    stage: 'ResponseComplete',
    requestURI: rec.path,
    verb: r.verb,
    user: { username: rec.user.username, ...(rec.user.uid ? { uid: rec.user.uid } : {}), groups: rec.user.groups, ...(rec.user.extra ? { extra: rec.user.extra } : {}) },
    responseStatus: {
      metadata: {},
      code: rec.status,
      ...(rec.status >= 400 || rec.decision.action === 'deny' || rec.decision.action === 'hold' ? { status: 'Failure', message: rec.decision.reason ?? '' } : {}),
    },
    requestReceivedTimestamp: microTime(start),
    stageTimestamp: microTime(start + Math.max(0, rec.latencyMs)),
    annotations,
  };
  if (rec.sourceIP) ev.sourceIPs = [rec.sourceIP];
  if (rec.userAgent) ev.userAgent = rec.userAgent;
  if (r.resource) {
    ev.objectRef = {
      resource: r.resource,
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.name ? { name: r.name } : {}),
      apiGroup: r.apiGroup ?? '',
      ...(r.apiVersion ? { apiVersion: r.apiVersion } : {}),
      ...(r.subresource ? { subresource: r.subresource } : {}),
    };
  }
  if (rec.requestBody !== undefined) ev.requestObject = rec.requestBody;
  if (rec.responseBody !== undefined) ev.responseObject = rec.responseBody;
  return ev;
}

/** Appends audit events, one JSON per line; appends are serialised and fsynced per batch. */
export class AuditLogWriter {
  readonly path: string;
  private fh: Promise<FileHandle> | undefined;
  private chain: Promise<void> = Promise.resolve();

  private readonly metrics: RecordingMetrics;

  constructor(path: string, metrics: RecordingMetrics) {
    this.metrics = metrics;
    this.path = path;
  }

  append(recs: RequestRecord[], sync = true): Promise<void> {
    const lines = recs.filter(isAuditable).map((r) => jsonWithTexts(toAuditEvent(r)) + '\n').join('');
    if (!lines) return this.chain;
    const next = this.chain.then(async () => {
      this.fh ??= open(this.path, 'a', 0o600);
      const fh = await this.fh;
      const buf = Buffer.from(lines, 'utf8');
      await fh.write(buf);
      if (sync) await fh.datasync();
      this.metrics.recordingBytesTotal.inc(buf.length);
    });
    this.chain = next.catch(() => {
      this.metrics.recordingErrorsTotal.inc();
    });
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    if (this.fh) await (await this.fh).close();
    this.fh = undefined;
  }
}
