// The agent's side of one exchange: an HTTP response, or the raw socket of an upgrade request. Only the
// response gate (gate.ts) holds a channel, so no other code can write bytes to the agent.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';

export interface AgentChannel {
  /** Whether the status line went out (a later failure can only cut the connection). */
  readonly started: boolean;
  /** Whether the agent has gone away (errors after that are expected, not internal). */
  readonly gone: boolean;
  /** A complete answer with a known body. */
  send(status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void;
  /** Starts a streamed answer; the returned stream takes the body. */
  stream(status: number, headers: OutgoingHttpHeaders, flushHeaders: boolean): Writable;
  /** Cuts the connection (after a failure mid-stream). */
  abort(): void;
  /** Runs fn once when the agent goes away before the answer finished. */
  onAgentGone(fn: () => void): void;
}

export class HttpChannel implements AgentChannel {
  constructor(private readonly res: ServerResponse) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  get gone(): boolean {
    return this.res.destroyed || this.res.req.socket.destroyed;
  }

  send(status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
    if (this.res.headersSent) return this.abort();
    this.res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  stream(status: number, headers: OutgoingHttpHeaders, flushHeaders: boolean): Writable {
    this.res.writeHead(status, headers);
    if (flushHeaders) this.res.flushHeaders();
    return this.res;
  }

  abort(): void {
    this.res.destroy();
  }

  onAgentGone(fn: () => void): void {
    this.res.on('close', () => {
      if (!this.res.writableFinished) fn();
    });
  }
}

/** Largest non-101 answer written on an upgrade socket (refusals and upstream Status objects are small). */
const MAX_SOCKET_ANSWER = 1024 * 1024;

/** An upgrade request's socket before it switched protocols: answers are whole HTTP/1.1 responses. */
export class SocketChannel implements AgentChannel {
  private done = false;
  constructor(private readonly socket: Duplex) {}

  get started(): boolean {
    return this.done;
  }

  get gone(): boolean {
    return this.socket.destroyed;
  }

  send(status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
    if (this.done) return this.abort();
    this.done = true;
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const lines = [`HTTP/1.1 ${status} ${statusText(status)}`];
    for (const [k, v] of Object.entries({ ...headers, 'content-length': buf.length, connection: 'close' })) {
      if (v === undefined) continue;
      for (const vv of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${String(vv)}`);
    }
    if (this.socket.writable) this.socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), buf]));
  }

  stream(status: number, headers: OutgoingHttpHeaders): Writable {
    const chunks: Buffer[] = [];
    let size = 0;
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        size += chunk.length;
        if (size > MAX_SOCKET_ANSWER) return cb(new Error('upstream answer to an upgrade request is too large'));
        chunks.push(chunk);
        cb();
      },
      final: (cb) => {
        this.send(status, headers, Buffer.concat(chunks));
        cb();
      },
    });
  }

  /** Writes the upstream's 101 answer and hands back the socket for the switched protocol. */
  switchProtocols(statusMessage: string, rawHeaders: string[]): Duplex {
    this.done = true;
    const lines = [`HTTP/1.1 101 ${statusMessage}`];
    for (let i = 0; i < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
    this.socket.write(lines.join('\r\n') + '\r\n\r\n');
    return this.socket;
  }

  abort(): void {
    this.done = true;
    this.socket.destroy();
  }

  onAgentGone(fn: () => void): void {
    this.socket.once('close', fn);
  }
}

function statusText(code: number): string {
  const texts: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
  return texts[code] ?? 'Status';
}
