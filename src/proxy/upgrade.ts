// Protocol upgrades (exec, attach, port-forward, proxy over SPDY/3.1 or WebSocket) go through the same
// stages as every request (pipeline.ts); this is their forward stage.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Decision, UserInfo } from '../policy/types.js';
import type { AsciicastWriter } from '../recording/types.js';
import type { Exchange, ProxyContext } from './context.js';
import type { MaskView, ResponseGate } from './gate.js';
import { forwardableHeaders } from './headers.js';
import { target, type RequestInfo } from './request-info.js';
import { isDeadlineExceeded, timeoutStatus } from './deadline.js';
import { kubeStatus } from './status.js';
import { recordableChannelProtocol, tapChannelStream } from './ws-tap.js';

export interface UpgradeForward {
  info: RequestInfo;
  user: UserInfo;
  decision: Decision;
  view: MaskView;
  identity: OutgoingHttpHeaders;
  /** Bytes the agent sent after its request head (already part of the new protocol). */
  head: Buffer;
}

/**
 * The forward stage of a judged upgrade: sent upstream with Connection: Upgrade; a refusal is answered
 * through the gate like any response (masked), a 101 joins both sockets (WebSocket exec/attach observed
 * for the asciicast recording). Resolves once the answer is settled (the stream itself goes on).
 */
export function forwardUpgrade(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, gate: ResponseGate, f: UpgradeForward): Promise<void> {
  const headers: OutgoingHttpHeaders = { ...forwardableHeaders(req.headers, true), ...f.identity };
  return new Promise((resolve) => {
    const up = ctx.upstream.request(ex.method, target(f.info), headers, ex.deadline ? { answerBy: ex.deadline.answerBy } : {});
    up.on('error', (err) => {
      if (gate.started) gate.abort();
      else if (isDeadlineExceeded(err) && ex.deadline) gate.answer(timeoutStatus(ex.deadline, 'the request'), f.view);
      else gate.answer(kubeStatus(502, `airlock: upstream error: ${err.message}`, 'ServiceUnavailable'), f.view);
      resolve();
    });
    // The API server refused the upgrade: its answer goes through the gate as a normal response.
    up.on('response', (ures) => void gate.relay(ures, f.view).then(resolve, resolve));
    up.on('upgrade', (ures, usock, uhead) => {
      const socket = gate.switchProtocols(ures);
      const tap = startExecRecording(ctx, f.info, f.user, ex, f.decision, ures.headers['sec-websocket-protocol']);
      if (tap) {
        socket.on('data', (c: Buffer) => tap.fromClient(c));
        usock.on('data', (c: Buffer) => tap.fromServer(c));
      }
      if (uhead.length) {
        tap?.fromServer(uhead);
        socket.write(uhead);
      }
      if (f.head.length) {
        tap?.fromClient(f.head);
        usock.write(f.head);
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
      resolve();
    });
    up.end();
  });
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
