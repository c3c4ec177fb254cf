// The response gate against a hostile upstream: answers of known length (the whole-body path) and streamed
// ones must be masked the same, and an answer that breaks off or cannot be masked must not reach the agent.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMaskerFactory } from '../../../src/masking/index.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { ResponseGate, type MaskView } from '../../../src/proxy/gate.js';
import { HttpChannel } from '../../../src/proxy/channel.js';
import { newExchange, type ProxyContext } from '../../../src/proxy/context.js';
import { KEY, b64, rules } from '../masking/helpers.js';

const SECRET_VALUE = 'gate-canary-Zq81xv';
const secretJson = JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's', namespace: 'default' }, data: { password: b64(SECRET_VALUE) } });

/** What the fake API server sends for each path. */
const upstreamAnswers: Record<string, (res: ServerResponse) => void> = {
  '/sized': (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(secretJson) }).end(secretJson),
  '/chunked': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(secretJson.slice(0, 20));
    res.end(secretJson.slice(20));
  },
  // Declares the whole length, sends a third of it, then drops the connection.
  '/cut': (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(secretJson) });
    res.write(secretJson.slice(0, Math.floor(secretJson.length / 3)), () => res.socket?.destroy());
  },
  '/invalid': (res) => {
    const body = `{"kind":"Secret","data":{"password":"${b64(SECRET_VALUE)}"} trailing`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  },
  '/head': (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1234 }).end(),
};

let upstream: http.Server;
let front: http.Server;
let base: string;

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  upstream = http.createServer((req, res) => upstreamAnswers[req.url ?? '']!(res));
  const upPort = await listen(upstream);
  const ctx = { masker: createMaskerFactory({ key: KEY }), recorder: undefined, metrics: createMetrics() } as unknown as ProxyContext;
  const view: MaskView = {
    target: { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'secrets', namespace: 'default', name: 's', watch: false },
    rules: rules(), recordBody: false, flush: false,
  };
  // The proxy side: one gate per request, relaying the fake API server's answer.
  front = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const gate = new ResponseGate(ctx, newExchange(req), new HttpChannel(res));
    const ureq = http.request({ host: '127.0.0.1', port: upPort, path: req.url, method: req.method }, (ures) => void gate.relay(ures, view));
    ureq.on('error', () => gate.abort());
    ureq.end();
  });
  base = `http://127.0.0.1:${await listen(front)}`;
});

afterAll(async () => {
  front.closeAllConnections();
  upstream.closeAllConnections();
  await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => upstream.close(r))]);
});

/** The agent's view: status, headers and body, or the error when the connection was cut. */
function get(path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | { error: string; partial: string }> {
  return new Promise((resolve) => {
    let partial = '';
    const req = http.request(`${base}${path}`, { method, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => (partial += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: partial }));
      res.on('error', (err) => resolve({ error: err.message, partial }));
    });
    req.on('error', (err) => resolve({ error: err.message, partial }));
    req.end();
  });
}

describe('response gate', () => {
  it('masks an answer of known length and sends it with its own length', async () => {
    const r = await get('/sized');
    expect('body' in r).toBe(true);
    if (!('body' in r)) return;
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(r.body).not.toContain(b64(SECRET_VALUE));
    expect(JSON.parse(r.body).metadata.name).toBe('s');
  });

  it('masks a streamed answer the same way', async () => {
    const [sized, chunked] = await Promise.all([get('/sized'), get('/chunked')]);
    expect('body' in chunked && 'body' in sized && chunked.body === sized.body).toBe(true);
  });

  it('cuts the connection when the answer breaks off, and sends none of it', async () => {
    const r = await get('/cut');
    expect('error' in r).toBe(true);
    if ('error' in r) expect(r.partial).toBe('');
  });

  it('cuts the connection when the answer cannot be masked, and sends none of it', async () => {
    const r = await get('/invalid');
    expect('error' in r).toBe(true);
    if ('error' in r) expect(r.partial).not.toContain(b64(SECRET_VALUE));
  });

  it('leaves an answer to HEAD, which has a length but no body, to the stream path', async () => {
    const r = await get('/head', 'HEAD');
    expect('status' in r && r.status).toBe(200);
  });
});
