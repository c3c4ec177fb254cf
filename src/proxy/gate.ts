// The response gate: the one place where bytes reach the agent. Every answer (the proxy's own Status,
// a failed judging probe, the forwarded upstream response of any method, status, content type or encoding,
// and the outcome of an upgrade) leaves through here, masked or refused. What the agent received is what
// the recording keeps.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex, TransformCallback } from 'node:stream';
import { pipeline, Transform } from 'node:stream';
import { JsonMaskStream, scrubKnownValues } from '../masking/index.js';
import type { MaskTarget } from '../masking/types.js';
import type { ResolvedMasking } from '../policy/types.js';
import type { AgentChannel } from './channel.js';
import { SocketChannel } from './channel.js';
import { elapsed, isObj, STRICTEST_MASKING, type Exchange, type ProxyContext } from './context.js';
import { responseHeaders } from './headers.js';
import { Capture, recordedBody } from './record.js';
import { kubeStatus, type KubeStatus } from './status.js';
import type { JsonResponse } from './upstream.js';


/** What the gate needs to know to mask one response. */
export interface MaskView {
  target: Omit<MaskTarget, 'contentType'>;
  /** The policy's masking rules (undefined: the policy asks for none). */
  rules: ResolvedMasking | undefined;
  /** Whether response bodies are recorded (never for long-lived streams). */
  recordBody: boolean;
  /** Whether headers go out at once (watches, log follows). */
  flush: boolean;
  /** Audit-only hits, shown to the agent as Kubernetes Warning headers (as the webhook's warnings are). */
  warnings?: string[];
  /** At most this many bytes of the masked body reach the agent (a log's limitBytes, applied after masking). */
  limitBytes?: number;
}

/** Passes the first `limit` bytes and drops the rest (the upstream was asked for a bounded few more). */
class ByteLimit extends Transform {
  private left: number;
  constructor(limit: number) {
    super();
    this.left = limit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.left > 0) {
      const part = chunk.length > this.left ? chunk.subarray(0, this.left) : chunk;
      this.left -= part.length;
      this.push(part);
    }
    cb();
  }
}

/** Warning headers in the form kube-apiserver sends them (kubectl prints them as "Warning: ..."). */
function warningHeaders(view: MaskView | undefined): Record<string, string[]> {
  const w = view?.warnings ?? [];
  return w.length ? { warning: w.map((t) => `299 - ${JSON.stringify(t.replace(/[\r\n]/g, ' '))}`) } : {};
}

/**
 * Largest answer read whole before it goes out: masked in one call and sent with its length in one write,
 * instead of through a chain of streams (most answers are small objects). It is also how long the event
 * loop may be held by masking one such answer (a few milliseconds); larger ones stream in slices.
 */
const WHOLE_BODY_LIMIT = 256 * 1024;

/** Whether an answer is small, of known length and carries a body (HEAD, 204 and 304 carry none). */
function isWholeAnswer(ures: IncomingMessage, method: string, view: MaskView): boolean {
  if (view.flush || method === 'HEAD' || ures.statusCode === 204 || ures.statusCode === 304) return false;
  const declared = Number(ures.headers['content-length']);
  return Number.isSafeInteger(declared) && declared >= 0 && declared <= WHOLE_BODY_LIMIT;
}

/** The whole body of a response whose length is known (bounded by the caller); rejects if it is cut off. */
function readWhole(ures: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    ures.on('data', (c: Buffer) => chunks.push(c));
    ures.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    ures.on('error', reject); // on, not once: a second error after the first must not go unhandled
    ures.once('close', () => {
      if (!ures.complete) reject(new Error('the API server closed the connection before its answer was complete'));
    });
  });
}

const JSON_HEADERS: OutgoingHttpHeaders = { 'content-type': 'application/json', 'cache-control': 'no-cache, private' };

export class ResponseGate {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly ex: Exchange,
    private readonly channel: AgentChannel,
  ) {}

  get started(): boolean {
    return this.channel.started;
  }

  get agentGone(): boolean {
    return this.channel.gone;
  }

  onAgentGone(fn: () => void): void {
    this.channel.onAgentGone(fn);
  }

  /**
   * The proxy's own answer. Its message may quote the judged object (detector explanations), so the
   * values that object protects are scrubbed; the rest is Airlock's own text and is left readable.
   */
  answer(st: KubeStatus, view?: MaskView, headers?: Record<string, string>): void {
    const masked = scrubKnownValues(st, view?.target.knownValues ?? [], () => SCRUBBED) as KubeStatus;
    this.deliver(masked.code, masked, view, headers);
  }

  /**
   * A judging probe (dry run, live read) failed: the agent learns the API server's Status, masked like a
   * response for that resource. Anything that is not an error Status is never shown (it could be the very
   * content the probe read, e.g. a log).
   */
  probeFailure(resp: JsonResponse, view: MaskView): void {
    const body = resp.body;
    if (resp.status >= 400 && isObj(body) && body.kind === 'Status') {
      this.deliver(resp.status, this.maskWhole(structuredClone(body), view) as Record<string, unknown>, view);
      return;
    }
    const code = resp.status >= 400 ? resp.status : 502;
    this.answer(kubeStatus(code, `airlock: the API server's answer to the request made to judge this one (HTTP ${resp.status}) cannot be shown; nothing was forwarded`), view);
  }

  /** Streams the upstream response to the agent through the masker; resolves when it ended. */
  relay(ures: IncomingMessage, view: MaskView): Promise<void> {
    const status = ures.statusCode ?? 502;
    const headers = responseHeaders(ures.headers);
    const warnings = warningHeaders(view).warning;
    if (warnings) (headers as Record<string, unknown>).warning = [...[headers.warning ?? []].flat().map(String), ...warnings];
    const contentType = String(ures.headers['content-type'] ?? '');
    let transform: Transform | undefined;
    const masker = this.ctx.masker;
    if (masker && view.rules && masker.needsMasking(view.target, view.rules)) {
      const encoding = String(ures.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'identity') {
        ures.resume();
        this.answer(kubeStatus(502, `airlock: the API server answered with content-encoding "${encoding}", which cannot be masked`), view);
        return Promise.resolve();
      }
      transform = masker.create({ ...view.target, contentType }, view.rules);
      if (transform) delete headers['content-length'];
    }
    this.ex.status = status;
    this.observe(status);
    if (this.channel.gone) {
      // The agent left before its answer came: nothing to send it, and nothing to pipe into.
      ures.resume();
      transform?.destroy();
      return Promise.resolve();
    }
    if (isWholeAnswer(ures, this.ex.method, view) && (!transform || transform instanceof JsonMaskStream)) {
      return this.relayWhole(ures, status, headers, transform, view);
    }
    const capture = view.recordBody && this.ctx.recorder ? new Capture() : undefined;
    const out = this.channel.stream(status, headers, view.flush);
    const stages: (Transform | IncomingMessage | NodeJS.WritableStream)[] = [ures];
    if (transform) stages.push(transform);
    if (transform && view.limitBytes !== undefined) stages.push(new ByteLimit(view.limitBytes));
    if (capture) stages.push(capture);
    stages.push(out);
    return new Promise((resolve) => {
      const finished = (err?: Error | null): void => {
        if (err) this.channel.abort();
        if (capture) this.ex.responseBody = capture.value(transform instanceof JsonMaskStream && !err);
        resolve();
      };
      try {
        (pipeline as (...s: unknown[]) => void)(...stages, finished);
      } catch (err) {
        // pipeline() throws at once when a stream is already closed (the agent left just now).
        ures.resume();
        finished(err as Error);
      }
    });
  }

  /** A small answer of known length: read whole, masked in one call, sent in one write. */
  private async relayWhole(ures: IncomingMessage, status: number, headers: OutgoingHttpHeaders, masker: JsonMaskStream | undefined, view: MaskView): Promise<void> {
    let body: Buffer;
    try {
      body = await readWhole(ures);
    } catch {
      // As when a streamed answer breaks off: the agent's connection is cut, nothing half-sent is completed.
      this.channel.abort();
      return;
    }
    let out: string | Buffer = body;
    if (masker) {
      try {
        out = masker.maskComplete(body);
      } catch {
        // As the stream does when it cannot mask: nothing of the answer reaches the agent.
        this.channel.abort();
        return;
      }
    }
    if (view.recordBody && this.ctx.recorder) this.ex.responseBody = typeof out === 'string' ? recordedBody(out, true) : recordedBody(out.toString('utf8'), false);
    if (this.channel.gone) return;
    this.channel.send(status, headers, out);
  }

  /** An upgrade the API server accepted: the 101 goes out and both sockets are joined. */
  switchProtocols(ures: IncomingMessage): Duplex {
    if (!(this.channel instanceof SocketChannel)) throw new Error('switchProtocols needs an upgrade socket');
    this.ex.status = 101;
    this.observe(101);
    return this.channel.switchProtocols(ures.statusMessage ?? 'Switching Protocols', ures.rawHeaders);
  }

  /** Cuts the agent's connection (a failure after the answer started). */
  abort(): void {
    this.channel.abort();
  }

  /** A whole JSON answer (already masked or scrubbed), and what the recording keeps of it. */
  private deliver(status: number, body: KubeStatus | Record<string, unknown>, view: MaskView | undefined, headers?: Record<string, string>): void {
    this.ex.status = status;
    this.ex.reason = typeof body.message === 'string' ? body.message : undefined;
    this.ex.responseBody = body;
    this.observe(status);
    this.channel.send(status, { ...JSON_HEADERS, ...warningHeaders(view), ...headers }, JSON.stringify(body));
  }

  private maskWhole(value: unknown, view: MaskView | undefined): unknown {
    const maskValue = this.ctx.masker?.maskValue;
    if (!maskValue) return value;
    const target = view?.target ?? { verb: this.ex.info?.verb ?? '', apiGroup: '', apiVersion: '', resource: '', watch: false };
    return maskValue(value, { ...target, resource: target.resource || 'status' }, view?.rules ?? STRICTEST_MASKING);
  }

  private observe(code: number): void {
    this.ctx.metrics.proxyRequestDuration.observe({ verb: this.ex.verbForMetrics, code: String(code) }, elapsed(this.ex.start));
  }
}

/** Stands in for a value the judged object protects, in the proxy's own messages. */
const SCRUBBED = 'airlock-masked:value';
