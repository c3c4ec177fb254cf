// Protocol upgrades (exec, attach, port-forward, proxy over SPDY/3.1 or WebSocket): the upgrade request
// is authenticated and judged like any other; only when allowed is it sent upstream, and on 101 both
// sockets are piped (WebSocket exec/attach observed for the asciicast recording).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { proxyRequestDuration } from '../metrics/registry.js';
import type { Decision, UserInfo } from '../policy/types.js';
import type { AsciicastWriter } from '../recording/types.js';
import { admit, baseAttributes } from './admit.js';
import { closeSignal, elapsed, hasBody, NEVER, newExchange, type Exchange, type ProxyContext } from './context.js';
import { forwardableHeaders, responseHeaders } from './headers.js';
import { decideAll, denyMessage, verdictFor } from './judge.js';
import { finishRecord } from './record.js';
import { judgedVerbs, target, type RequestInfo } from './request-info.js';
import { kubeStatus, rawStatusResponse, type KubeStatus } from './status.js';
import { recordableChannelProtocol, tapChannelStream } from './ws-tap.js';

/** exec / attach / port-forward / proxy upgrades: judged like any request, then piped both ways. */
export async function handleUpgrade(ctx: ProxyContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const ex: Exchange = newExchange(req);
  socket.on('error', () => socket.destroy());
  const refuse = (st: KubeStatus) => {
    ex.status = st.code;
    ex.reason = st.message;
    ex.responseBody = st;
    if (socket.writable) socket.end(rawStatusResponse(st));
    proxyRequestDuration.observe({ verb: ex.verbForMetrics, code: String(st.code) }, elapsed(ex.start));
    void finishRecord(ctx, req, ex);
  };
  const admitted = await admit(ctx, req, ex);
  if ('kind' in admitted) return refuse(admitted);
  const { info, user } = admitted;
  if (hasBody(req)) return refuse(kubeStatus(400, 'airlock: an upgrade request may not carry a body'));
  const variants = judgedVerbs(info, ex.method).map((v) => baseAttributes(info, user, v));
  const decision = decideAll(ctx.engine, variants);
  ex.decision = decision;
  const verdict = await verdictFor(decision, variants[0]!, ctx.approvals, decision.action === 'hold' ? closeSignal(socket) : NEVER);
  ex.approval = verdict.approval;
  if (!verdict.forward) return refuse(verdict.status);
  if (decision.action === 'mutate') return refuse(kubeStatus(403, denyMessage(decision, `${decision.reason} (a stream cannot be mutated)`), 'Forbidden'));

  const headers: OutgoingHttpHeaders = { ...forwardableHeaders(req.headers, true), ...ctx.upstream.identity(user) };
  const up = ctx.upstream.request(ex.method, target(info), headers);
  up.on('error', (err) => refuse(kubeStatus(502, `airlock: upstream error: ${err.message}`, 'ServiceUnavailable')));
  up.on('response', (ures) => {
    // The API server refused the upgrade: relay its answer as a normal HTTP response.
    ex.status = ures.statusCode ?? 502;
    const rh = responseHeaders(ures.headers);
    const lines = [`HTTP/1.1 ${ex.status} ${ures.statusMessage ?? ''}`];
    const chunks: Buffer[] = [];
    ures.on('data', (c: Buffer) => chunks.push(c));
    ures.on('end', () => {
      const body = Buffer.concat(chunks);
      rh['content-length'] = body.length;
      for (const [k, v] of Object.entries(rh)) for (const vv of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${String(vv)}`);
      lines.push('connection: close');
      if (socket.writable) socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]));
      void finishRecord(ctx, req, ex);
    });
  });
  up.on('upgrade', (ures, usock, uhead) => {
    ex.status = 101;
    proxyRequestDuration.observe({ verb: ex.verbForMetrics, code: '101' }, elapsed(ex.start));
    const lines = [`HTTP/1.1 101 ${ures.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < ures.rawHeaders.length; i += 2) lines.push(`${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    const tap = startExecRecording(ctx, info, user, ex, decision, ures.headers['sec-websocket-protocol']);
    if (tap) {
      socket.on('data', (c: Buffer) => tap.fromClient(c));
      usock.on('data', (c: Buffer) => tap.fromServer(c));
    }
    if (uhead.length) {
      tap?.fromServer(uhead);
      socket.write(uhead);
    }
    if (head.length) {
      tap?.fromClient(head);
      usock.write(head);
    }
    ctx.openSockets ??= new Set();
    ctx.openSockets.add(socket);
    ctx.openSockets.add(usock);
    const cleanup = () => {
      ctx.openSockets?.delete(socket);
      ctx.openSockets?.delete(usock);
      socket.destroy();
      usock.destroy();
      tap?.close();
    };
    usock.on('error', cleanup);
    socket.on('error', cleanup);
    usock.on('close', cleanup);
    socket.on('close', cleanup);
    usock.pipe(socket);
    socket.pipe(usock);
    void finishRecord(ctx, req, ex);
  });
  up.end();
}

/**
 * Starts an asciicast recording of an exec/attach WebSocket stream when the policy records this agent.
 * Observation only: a parse problem stops the recording, never the stream. SPDY streams are not recorded.
 */
function startExecRecording(
  ctx: ProxyContext,
  info: RequestInfo,
  user: UserInfo,
  ex: Exchange,
  decision: Decision,
  protocol: string | string[] | undefined,
): { fromClient(c: Buffer): void; fromServer(c: Buffer): void; close(): void } | undefined {
  const proto = Array.isArray(protocol) ? protocol[0] : protocol;
  if (!ctx.recorder || !decision.recording.enabled) return undefined;
  if (info.subresource !== 'exec' && info.subresource !== 'attach') return undefined;
  if (!recordableChannelProtocol(proto?.trim())) return undefined;
  let writer: AsciicastWriter;
  try {
    writer = ctx.recorder.startAsciicast(ctx.recorder.sessionFor(user), ex.id, {
      command: info.params.getAll('command').join(' ') || undefined,
    });
  } catch (err) {
    ctx.onError(err);
    return undefined;
  }
  ex.asciicast = writer.file;
  const readers = tapChannelStream(writer);
  let closed = false;
  const guard = (fn: () => void) => {
    if (closed) return;
    try {
      fn();
    } catch (err) {
      closed = true;
      ctx.onError(err);
      void writer.close().catch(() => undefined);
    }
  };
  return {
    fromClient: (c) => guard(() => readers.fromClient.push(c)),
    fromServer: (c) => guard(() => readers.fromServer.push(c)),
    close: () => {
      if (closed) return;
      closed = true;
      writer.close().catch((err: unknown) => ctx.onError(err));
    },
  };
}
