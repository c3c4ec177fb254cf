// What a session recording keeps of a request: the decision made, the masked request body, and the bytes
// the agent received (bounded, with the size and digest of all of it).
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { RequestRecord } from '../recording/types.js';
import { elapsed, STRICTEST_MASKING, type Exchange, type ProxyContext } from './context.js';
import { errorField } from '../log.js';
import { nestsDeeperThan } from '../masking/depth.js';
import { BOUNDED_BODY } from '../recording/file-recorder.js';
import { JsonText } from '../recording/record-line.js';
import { target } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

export const RECORD_BODY_LIMIT = 64 * 1024;

/**
 * Passes data through unchanged while keeping the first `limit` bytes, and the size and sha256 of all of
 * it (what the agent received beyond the limit is still accounted for).
 */
export class Capture extends Transform {
  private readonly chunks: Buffer[] = [];
  private readonly digest = createHash('sha256');
  private size = 0;
  private total = 0;
  truncated = false;
  constructor(private readonly limit = RECORD_BODY_LIMIT) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digest.update(chunk);
    this.total += chunk.length;
    if (this.size < this.limit) {
      const take = chunk.subarray(0, this.limit - this.size);
      this.chunks.push(take);
      this.size += take.length;
      if (take.length < chunk.length) this.truncated = true;
    } else if (chunk.length) this.truncated = true;
    cb(null, chunk);
  }
  /** maskerOutput: the bytes are the masker's complete output (well-formed JSON), kept as text, not parsed again. */
  value(maskerOutput = false): unknown {
    return recordedForm(Buffer.concat(this.chunks).toString('utf8'), this.truncated ? { bytes: this.total, sha256: () => this.digest.copy().digest('hex') } : undefined, this.limit, maskerOutput);
  }
}

/** What the recording keeps of a whole body the agent received (the gate's whole-body path). */
export function recordedBody(body: string, maskerOutput: boolean, limit = RECORD_BODY_LIMIT): unknown {
  const bytes = Buffer.byteLength(body);
  if (bytes <= limit) return recordedForm(body, undefined, limit, maskerOutput);
  const head = Buffer.from(body).subarray(0, limit).toString('utf8');
  return recordedForm(head, { bytes, sha256: () => createHash('sha256').update(body).digest('hex') }, limit, false);
}

/** The body's recorded form: its JSON, or its text when not JSON, or past the limit a stub with its size and digest. */
function recordedForm(text: string, truncated: { bytes: number; sha256: () => string } | undefined, limit: number, maskerOutput: boolean): unknown {
  if (!text) return undefined;
  // The masker writes one JSON value per line, each from JSON.stringify: a single line is one well-formed
  // value, recorded as the text it is (format 2 lines splice it in; see recording/record-line.ts).
  if (maskerOutput && !truncated && text.indexOf('\n') === text.length - 1) return new JsonText(text.slice(0, -1));
  // The recorder's own truncation form (recording/file-recorder.ts limitBody), small enough to pass it as is.
  if (truncated) return { 'airlock.dev/truncated': true, bytes: truncated.bytes, sha256: truncated.sha256(), head: text.slice(0, limit - 1024), [BOUNDED_BODY]: true };
  try {
    const value: unknown = JSON.parse(text);
    // Kept as text when nested too deep to serialise again (the record line and the audit event are built with
    // JSON.stringify, which is recursive).
    return nestsDeeperThan(value) ? text : value;
  } catch {
    return text; // not JSON: kept as text
  }
}

/** Writes the request's record (when a recorder is configured and the policy records this agent). */
export function finishRecord(ctx: ProxyContext, req: IncomingMessage, ex: Exchange): Promise<void> {
  const p = writeRecord(ctx, req, ex).finally(() => ctx.pendingRecords.delete(p));
  ctx.pendingRecords.add(p);
  return p;
}

export interface IntentAttempt {
  /** Which judgement of the request (a write re-judged after a conflict is forwarded again). */
  attempt: number;
  objectName?: string;
  /** resourceVersion of the live object the write was judged against. */
  baseResourceVersion?: string;
}

/**
 * Write-ahead: a judged write is made durable in its session (request, masked body, decision) before it
 * is forwarded; the outcome follows as the request's record. Resolves with a 503 Status when the intent
 * could not be made durable: the write is then refused, never sent unrecorded.
 */
export async function writeIntent(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, at: IntentAttempt): Promise<KubeStatus | undefined> {
  if (!ctx.recorder || !ex.user || !ex.decision?.recording.enabled) return undefined;
  try {
    const rec = recordOf(ctx, req, ex, 'intent', ctx.recorder.sessionFor(ex.user));
    rec.attempt = at.attempt;
    // The object written, also when bodies are not recorded (a create names it only in its body).
    if (at.objectName && !rec.request.name) rec.request.name = at.objectName;
    if (at.baseResourceVersion) rec.baseResourceVersion = at.baseResourceVersion;
    await ctx.recorder.record(rec);
    ex.intentRecorded = true;
    return undefined;
  } catch (err) {
    ctx.metrics.unrecordedRefusalsTotal.inc({ kind: 'write' });
    ctx.log.error('write intent could not be recorded; the write is refused', { id: ex.id, error: errorField(err) });
    return unrecordable('write');
  }
}

/** A read the policy wants recorded while records cannot be made durable: refused unless the policy allows it. */
export function refuseUnrecordableRead(ctx: ProxyContext, ex: Exchange): KubeStatus | undefined {
  const d = ex.decision;
  if (!ctx.recorder || !d?.recording.enabled || ctx.recorder.available() || d.recording.readFailurePolicy === 'Ignore') return undefined;
  ctx.metrics.unrecordedRefusalsTotal.inc({ kind: 'read' });
  return unrecordable('read');
}

function unrecordable(kind: 'read' | 'write'): KubeStatus {
  return kubeStatus(503, `airlock: session recording is unavailable (its storage refused the write); this ${kind} was not forwarded, retry later`, 'ServiceUnavailable');
}

/** Never rejects: it runs detached from the request (a failure is reported, never thrown). */
async function writeRecord(ctx: ProxyContext, req: IncomingMessage, ex: Exchange): Promise<void> {
  if (!ctx.recorder || !ex.user) return;
  if (ex.decision && !ex.decision.recording.enabled) return;
  try {
    const rec = recordOf(ctx, req, ex, ex.asciicast ? 'exec' : 'request', ctx.recorder.sessionFor(ex.user));
    // The intent already holds what the agent sent; the outcome adds what came back.
    if (ex.intentRecorded) delete rec.requestBody;
    if (ex.responseBody !== undefined && (!ex.decision || ex.decision.recording.bodies)) rec.responseBody = ex.responseBody;
    await ctx.recorder.record(rec);
  } catch (err) {
    ctx.log.error('request record could not be written', { id: ex.id, error: errorField(err) });
  }
}

/** The record of a request as it stands: who, what, the decision made, the status answered. */
function recordOf(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, type: RequestRecord['type'], sessionId: string): RequestRecord {
  const d = ex.decision;
  const info = ex.info;
  const rec: RequestRecord = {
    type,
    time: ex.startTime.toISOString(),
    sessionId,
    requestId: ex.id,
    user: ex.user!,
    sourceIP: req.socket.remoteAddress,
    userAgent: req.headers['user-agent'],
    method: ex.method,
    path: info ? target(info) : ex.rawPath.slice(0, 2048),
    request: {
      verb: info?.verb ?? ex.method.toLowerCase(),
      ...(info?.apiGroup ? { apiGroup: info.apiGroup } : {}),
      ...(info?.apiVersion ? { apiVersion: info.apiVersion } : {}),
      ...(info?.resource ? { resource: info.resource } : {}),
      ...(info?.subresource ? { subresource: info.subresource } : {}),
      ...(info?.namespace ? { namespace: info.namespace } : {}),
      ...(info?.name ? { name: info.name } : {}),
    },
    decision: {
      // The decision actually made; `error` when the request ended before one was (refused early, failed).
      action: d?.action ?? 'error',
      ...(d?.matched ? { policy: d.matched.policy, rule: d.matched.rule } : {}),
      ...(d && 'reason' in d ? { reason: d.reason } : ex.reason ? { reason: ex.reason } : {}),
      ...(ex.approval ? { approval: ex.approval } : {}),
    },
    status: type === 'intent' ? 0 : ex.status ?? 0,
    latencyMs: type === 'intent' ? 0 : elapsed(ex.start) * 1000,
  };
  if (ex.asciicast) rec.asciicast = ex.asciicast;
  if (info?.subresource === 'exec' && info.resource === 'pods') rec.command = info.params.getAll('command');
  if ((!d || d.recording.bodies) && ex.requestBody !== undefined) rec.requestBody = maskedRequestBody(ctx, ex);
  return rec;
}

/**
 * What the agent sent goes through the same masking as what it receives (whole, then bounded by the
 * recorder with its size and digest): recordings never hold a credential an agent pasted into a
 * ConfigMap, an env value or a Secret. Without masking rules, Secret bodies are not recorded at all.
 */
function maskedRequestBody(ctx: ProxyContext, ex: Exchange): unknown {
  const mask = ctx.masker?.maskValue;
  const info = ex.info;
  // Before a decision (a write refused by the guards), the strictest masking applies.
  const rules = ex.decision ? ex.decision.masking : STRICTEST_MASKING;
  if (mask && rules && info) {
    // A copy to mask (the original is what gets forwarded). Bodies past what a record keeps are not masked
    // whole and cut to a head (masking MiBs of strings held the event loop for seconds, and padding pushed
    // what the object does out of the head): their skeleton is recorded instead, whole.
    const text = Buffer.isBuffer(ex.requestBody) ? undefined : JSON.stringify(ex.requestBody);
    if (text === undefined) return { 'airlock.dev/truncated': true, bytes: (ex.requestBody as Buffer).length, [BOUNDED_BODY]: true };
    if (text.length > LARGE_REQUEST_BODY) {
      const skeleton = mask(skeletonOf(ex.requestBody), { ...info, watch: false }, rules);
      // Bounded by construction: not cut to a head again by the recorder.
      return { 'airlock.dev/truncated': true, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), note: `request body over ${LARGE_REQUEST_BODY / 1024} KiB: recorded with every string over ${SHORT_STRING} characters as its size and sha256`, skeleton, [BOUNDED_BODY]: true };
    }
    return mask(JSON.parse(text), { ...info, watch: false }, rules);
  }
  return info?.resource === 'secrets' ? { redacted: 'Secret request bodies are not recorded without masking' } : ex.requestBody;
}

/** Request bodies larger than what a record keeps are recorded as their skeleton, never cut to a head. */
const LARGE_REQUEST_BODY = RECORD_BODY_LIMIT;
/** In a skeleton, strings past this are recorded by their size and sha256. */
const SHORT_STRING = 128;

/**
 * A parsed body with every long string replaced by its size and sha256: every field and every item is
 * kept (a bounded summary of an agent's object is one the agent can arrange to leave out what it does),
 * and masking, which reads an object's kind and an env entry's name, sees every value in its context.
 * Long strings are what makes masking a large body slow; no head of one is kept, because masking reads a
 * value whole (a PEM block, a token) and half of one is no longer recognisable as the secret it is.
 */
function skeletonOf(value: unknown): unknown {
  if (typeof value === 'string') return value.length <= SHORT_STRING ? value : `[airlock: ${Buffer.byteLength(value)} bytes, sha256 ${createHash('sha256').update(value).digest('hex')}]`;
  if (Array.isArray(value)) return value.map(skeletonOf);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = skeletonOf(v);
  return out;
}
