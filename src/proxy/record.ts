// What a session recording keeps of a request: the decision made, the masked request body, and the bytes
// the agent received (bounded, with the size and digest of all of it).
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { RequestRecord } from '../recording/types.js';
import { elapsed, STRICTEST_MASKING, type Exchange, type ProxyContext } from './context.js';
import { target } from './request-info.js';

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
  value(): unknown {
    const text = Buffer.concat(this.chunks).toString('utf8');
    if (!text) return undefined;
    // The recorder's own truncation form (recording/file-recorder.ts limitBody), small enough to pass it as is.
    if (this.truncated) return { 'airlock.dev/truncated': true, bytes: this.total, sha256: this.digest.copy().digest('hex'), head: text.slice(0, this.limit - 1024) };
    try {
      return JSON.parse(text);
    } catch {
      return text; // not JSON: kept as text
    }
  }
}

/** Writes the request's record (when a recorder is configured and the policy records this agent). */
export function finishRecord(ctx: ProxyContext, req: IncomingMessage, ex: Exchange): Promise<void> {
  const p = writeRecord(ctx, req, ex).finally(() => ctx.pendingRecords.delete(p));
  ctx.pendingRecords.add(p);
  return p;
}

async function writeRecord(ctx: ProxyContext, req: IncomingMessage, ex: Exchange): Promise<void> {
  if (!ctx.recorder || !ex.user) return;
  if (ex.decision && !ex.decision.recording.enabled) return;
  const d = ex.decision;
  const info = ex.info;
  const rec: RequestRecord = {
    type: ex.asciicast ? 'exec' : 'request',
    time: ex.startTime.toISOString(),
    sessionId: ctx.recorder.sessionFor(ex.user),
    requestId: ex.id,
    user: ex.user,
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
    status: ex.status ?? 0,
    latencyMs: elapsed(ex.start) * 1000,
  };
  if (ex.asciicast) rec.asciicast = ex.asciicast;
  if (!d || d.recording.bodies) {
    if (ex.requestBody !== undefined) {
      // What the agent sent goes through the same masking as what it receives (whole, then bounded by the
      // recorder with its size and digest): recordings never hold a credential an agent pasted into a
      // ConfigMap, an env value or a Secret. Without masking rules, Secret bodies are not recorded at all.
      const mask = ctx.masker?.maskValue;
      // Before a decision (a write refused by the guards), the strictest masking applies.
      const rules = d ? d.masking : STRICTEST_MASKING;
      if (mask && rules && info) rec.requestBody = mask(structuredClone(ex.requestBody), { ...info, watch: false }, rules);
      else rec.requestBody = info?.resource === 'secrets' ? { redacted: 'Secret request bodies are not recorded without masking' } : ex.requestBody;
    }
    if (ex.responseBody !== undefined) rec.responseBody = ex.responseBody;
  }
  try {
    await ctx.recorder.record(rec);
  } catch (err) {
    ctx.onError(err);
  }
}
