// Bounded capture of bodies for session recordings (after masking; Secret payloads never recorded).
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { RequestRecord } from '../recording/types.js';
import { elapsed, type Exchange, type ProxyContext } from './context.js';
import { target } from './request-info.js';

export const RECORD_BODY_LIMIT = 64 * 1024;

/** Passes data through unchanged while keeping the first `limit` bytes. */
export class Capture extends Transform {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit = RECORD_BODY_LIMIT) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.size < this.limit) {
      const take = chunk.subarray(0, this.limit - this.size);
      this.chunks.push(take);
      this.size += take.length;
      if (take.length < chunk.length) this.truncated = true;
    } else if (chunk.length) this.truncated = true;
    cb(null, chunk);
  }
  value(): unknown {
    return bodyForRecord(Buffer.concat(this.chunks).toString('utf8'), this.truncated);
  }
}

export function bodyForRecord(text: string, truncated: boolean): unknown {
  if (!text) return undefined;
  if (!truncated) {
    try {
      return JSON.parse(text);
    } catch { /* not JSON: keep text */ }
  }
  return truncated ? { truncated: true, prefix: text.slice(0, RECORD_BODY_LIMIT) } : text;
}

/** The request body as recorded: bounded, and with Secret values replaced. */
export function requestBodyForRecord(resource: string, body: unknown): unknown {
  if (body === undefined) return undefined;
  if (resource === 'secrets') return { redacted: 'Secret request bodies are not recorded' };
  const text = JSON.stringify(body);
  return text.length > RECORD_BODY_LIMIT ? { truncated: true, prefix: text.slice(0, RECORD_BODY_LIMIT) } : body;
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
      // What the agent sent goes through the same masking as what it receives: recordings never hold a
      // credential an agent pasted into a ConfigMap, an env value or an annotation.
      const mask = ctx.masker?.maskValue;
      rec.requestBody = mask && d?.masking && info ? mask(ex.requestBody, { ...info, watch: false }, d.masking) : ex.requestBody;
    }
    if (ex.responseBody !== undefined) rec.responseBody = ex.responseBody;
  }
  try {
    await ctx.recorder.record(rec);
  } catch (err) {
    ctx.onError(err);
  }
}
