// Protocol upgrades (exec, attach, port-forward, proxy over SPDY/3.1 or WebSocket) go through the same
// stages as every request (pipeline.ts); this is their forward stage. exec and attach output is masked on
// its way to the agent (stream-frames.ts re-frames it, exec-output.ts masks it).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { errorField } from '../log.js';
import type { ExecOutputMaskers } from '../masking/index.js';
import type { Decision, UserInfo } from '../policy/types.js';
import type { AsciicastWriter } from '../recording/types.js';
import { elapsed, type Exchange, type ProxyContext } from './context.js';
import type { MaskView, ResponseGate } from './gate.js';
import { forwardableHeaders } from './headers.js';
import { target, type RequestInfo } from './request-info.js';
import { isDeadlineExceeded, timeoutStatus } from './deadline.js';
import { kubeStatus, type KubeStatus } from './status.js';
import { SpdyRewriter, WebSocketChannelRewriter, type RewriterOptions } from './stream-frames.js';
import { recordableChannelProtocol, tapChannelStream } from './ws-tap.js';

export interface UpgradeForward {
  info: RequestInfo;
  user: UserInfo;
  decision: Decision;
  view: MaskView;
  identity: OutgoingHttpHeaders;
  /** Bytes the agent sent after its request head (already part of the new protocol). */
  head: Buffer;
  /** exec/attach output masking: the policy's rules and the target pod's secret values. */
  output?: ExecOutput;
}

export interface ExecOutput {
  /** The session's output maskers (the policy's rules and the target pod's secret values). */
  maskers: ExecOutputMaskers;
  /** The pod the values were read from: output waits until the stream is known to run in it. */
  podUID?: string;
}

/** WebSocket subprotocols whose frames the output rewriter can read: binary channels (no base64 variants). */
const BINARY_CHANNEL_PROTOCOLS = new Set(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io']);

export function isExecOrAttach(info: RequestInfo): boolean {
  return info.isResourceRequest && info.apiGroup === '' && info.resource === 'pods' && (info.subresource === 'exec' || info.subresource === 'attach');
}

type Framing = 'websocket' | 'spdy';

function framingOf(upgrade: string | undefined): Framing | undefined {
  const u = (upgrade ?? '').trim().toLowerCase();
  return u === 'websocket' ? 'websocket' : u === 'spdy/3.1' ? 'spdy' : undefined;
}

/**
 * Headers for a masked stream: only subprotocols and framings the rewriter reads, no WebSocket
 * extensions (a compressed frame could not be masked). A Status when nothing readable is left.
 */
function maskableHeaders(headers: OutgoingHttpHeaders): KubeStatus | undefined {
  const framing = framingOf(String(headers.upgrade ?? ''));
  if (!framing) return kubeStatus(400, `airlock: exec and attach output is masked, which needs a WebSocket or SPDY/3.1 stream (the request asked for ${JSON.stringify(String(headers.upgrade ?? ''))})`, 'BadRequest');
  delete headers['sec-websocket-extensions'];
  if (framing === 'websocket') {
    const offered = String(headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => BINARY_CHANNEL_PROTOCOLS.has(p));
    if (!offered.length) return kubeStatus(400, `airlock: exec and attach output is masked, which needs a binary channel subprotocol (${[...BINARY_CHANNEL_PROTOCOLS].join(', ')})`, 'BadRequest');
    headers['sec-websocket-protocol'] = offered.join(', ');
  }
  return undefined;
}

/**
 * The forward stage of a judged upgrade: sent upstream with Connection: Upgrade; a refusal is answered
 * through the gate like any response (masked), a 101 joins both sockets. With `output`, every byte from
 * the API server is re-framed through the output masker (stream-frames.ts); the agent's bytes go up
 * unchanged. Resolves once the answer is settled (the stream itself goes on).
 */
export function forwardUpgrade(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, gate: ResponseGate, f: UpgradeForward): Promise<void> {
  const headers: OutgoingHttpHeaders = { ...forwardableHeaders(req.headers, true), ...f.identity };
  if (f.output) {
    const refused = maskableHeaders(headers);
    if (refused) {
      gate.answer(refused, f.view);
      return Promise.resolve();
    }
  }
  return new Promise((resolve) => {
    const sentAt = process.hrtime.bigint();
    const up = ctx.upstream.request(ex.method, target(f.info), headers, ex.deadline ? { answerBy: ex.deadline.answerBy } : {});
    up.on('error', (err) => {
      if (gate.started) gate.abort();
      else if (isDeadlineExceeded(err) && ex.deadline) gate.answer(timeoutStatus(ex.deadline, 'the request'), f.view);
      else gate.answer(kubeStatus(502, `airlock: upstream error: ${err.message}`, 'ServiceUnavailable'), f.view);
      resolve();
    });
    // The API server refused the upgrade: its answer goes through the gate as a normal response.
    up.on('response', (ures) => {
      ex.upstreamStatus = ures.statusCode ?? 0;
      ctx.metrics.upstreamRequestDuration.observe({ verb: ex.verbForMetrics }, elapsed(sentAt));
      void gate.relay(ures, f.view).then(resolve, resolve);
    });
    up.on('upgrade', (ures, usock, uhead) => {
      ex.upstreamStatus = ures.statusCode ?? 101;
      ctx.metrics.upstreamRequestDuration.observe({ verb: ex.verbForMetrics }, elapsed(sentAt));
      const output = f.output;
      const framing = framingOf(String(ures.headers.upgrade ?? ''));
      const protocol = String(ures.headers['sec-websocket-protocol'] ?? '').trim();
      if (output && (!framing || ures.headers['sec-websocket-extensions'] || (framing === 'websocket' && !BINARY_CHANNEL_PROTOCOLS.has(protocol)))) {
        // The API server agreed to something the rewriter cannot read: nothing of it reaches the agent.
        usock.destroy();
        gate.answer(kubeStatus(502, 'airlock: the API server answered the upgrade with a framing whose output cannot be masked; nothing was shown', 'ServiceUnavailable'), f.view);
        resolve();
        return;
      }
      usock.pause();
      const socket = gate.switchProtocols(ures);
      const recording = startExecRecording(ctx, f.info, f.user, ex, f.decision, framing, protocol);
      ctx.openSockets ??= new Set();
      ctx.openSockets.add(socket);
      ctx.openSockets.add(usock);
      let rewriter: WebSocketChannelRewriter | SpdyRewriter | undefined;
      const cleanup = () => {
        ctx.openSockets?.delete(socket);
        ctx.openSockets?.delete(usock);
        rewriter?.close();
        socket.destroy();
        usock.destroy();
        recording?.close();
      };
      usock.on('error', cleanup);
      socket.on('error', cleanup);
      usock.on('close', cleanup);
      socket.on('close', cleanup);

      // agent -> API server: unchanged (observed for the recording and, for SPDY, the stream kinds).
      socket.on('data', (c: Buffer) => {
        recording?.fromClient(c);
        if (rewriter instanceof SpdyRewriter) rewriter.observeClient(c);
      });
      if (f.head.length) {
        recording?.fromClient(f.head);
        if (rewriter instanceof SpdyRewriter) rewriter.observeClient(f.head);
        usock.write(f.head);
      }
      socket.pipe(usock);

      // API server -> agent: through the output rewriter, or as is when the policy masks nothing.
      const startOutput = () => {
        if (!output) {
          if (uhead.length) {
            recording?.fromServer(uhead);
            socket.write(uhead);
          }
          usock.on('data', (c: Buffer) => recording?.fromServer(c));
          usock.pipe(socket);
          usock.resume();
          return;
        }
        const opts: RewriterOptions = {
          maskerFor: () => output.maskers.stream(),
          emit: (b) => {
            if (!socket.write(b)) usock.pause();
          },
          fail: (reason) => {
            ctx.log.error('exec stream cut', { id: ex.id, reason });
            cleanup();
          },
          onOutput: (_stream, masked) => recording?.output(masked),
        };
        rewriter = framing === 'spdy' ? new SpdyRewriter(opts) : new WebSocketChannelRewriter(opts);
        socket.on('drain', () => usock.resume());
        usock.on('data', (c: Buffer) => rewriter?.push(c));
        usock.on('end', () => {
          rewriter?.end();
          socket.end();
        });
        if (uhead.length) rewriter.push(uhead);
        usock.resume();
      };
      if (output?.podUID) {
        // The values were read from the pod that was judged: output waits until the stream is known to
        // run in that same pod (not one recreated under its name since).
        void samePod(ctx, f.info, output.podUID).then((same) => {
          if (same) startOutput();
          else {
            ctx.log.error('exec stream cut', { id: ex.id, reason: `pod ${f.info.namespace}/${f.info.name} changed since it was judged` });
            cleanup();
          }
        });
      } else startOutput();
      resolve();
    });
    ex.sent = true;
    up.end();
  });
}

/** Whether the pod still has the uid it was judged with (read as the proxy). */
async function samePod(ctx: ProxyContext, info: RequestInfo, uid: string): Promise<boolean> {
  const path = `/api/v1/namespaces/${encodeURIComponent(info.namespace ?? '')}/pods/${encodeURIComponent(info.name ?? '')}`;
  const res = await ctx.upstream.json('GET', path, null, undefined, { maxBytes: 4 * 1024 * 1024, endBy: Date.now() + 10_000 }).catch(() => undefined);
  const meta = res && res.status === 200 && typeof res.body === 'object' && res.body !== null ? (res.body as { metadata?: { uid?: string } }).metadata : undefined;
  return meta?.uid === uid;
}

interface ExecRecording {
  fromClient(c: Buffer): void;
  /** Raw frames from the API server (streams the policy does not mask). */
  fromServer(c: Buffer): void;
  /** Masked output, as it went to the agent. */
  output(masked: Buffer): void;
  close(): void;
}

/**
 * Starts an asciicast recording of an exec/attach stream when the policy records this agent: the output
 * as the agent received it, the input (WebSocket only) as the agent sent it. Observation only: a parse
 * problem stops the recording, never the stream.
 */
function startExecRecording(ctx: ProxyContext, info: RequestInfo, user: UserInfo, ex: Exchange, decision: Decision, framing: Framing | undefined, protocol: string): ExecRecording | undefined {
  if (!ctx.recorder || !decision.recording.enabled) return undefined;
  if (!isExecOrAttach(info)) return undefined;
  const websocket = framing === 'websocket' && recordableChannelProtocol(protocol);
  if (!websocket && framing !== 'spdy') return undefined;
  let writer: AsciicastWriter;
  try {
    writer = ctx.recorder.startAsciicast(ctx.recorder.sessionFor(user), ex.id, {
      command: info.params.getAll('command').join(' ') || undefined,
    });
  } catch (err) {
    ctx.log.error('exec recording could not start', { id: ex.id, error: errorField(err) });
    return undefined;
  }
  ex.asciicast = writer.file;
  const readers = websocket ? tapChannelStream(writer) : undefined;
  let closed = false;
  const guard = (fn: () => void) => {
    if (closed) return;
    try {
      fn();
    } catch (err) {
      closed = true;
      ctx.log.error('exec recording stopped', { id: ex.id, error: errorField(err) });
      void writer.close().catch(() => undefined);
    }
  };
  return {
    fromClient: (c) => guard(() => readers?.fromClient.push(c)),
    fromServer: (c) => guard(() => readers?.fromServer.push(c)),
    output: (masked) => guard(() => writer.output(masked)),
    close: () => {
      if (closed) return;
      closed = true;
      writer.close().catch((err: unknown) => ctx.log.error('exec recording could not be closed', { id: ex.id, error: errorField(err) }));
    },
  };
}
