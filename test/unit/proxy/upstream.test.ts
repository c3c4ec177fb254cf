// Upstream deadlines when every connection is busy: a request waiting for a connection must still end by
// its deadline (Node reports nothing for a destroyed request until it is given a socket).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../../../src/k8s/client.js';
import { createCA, createServingCert } from '../../../src/operator/certs.js';
import { DeadlineExceeded } from '../../../src/proxy/deadline.js';
import { Upstream } from '../../../src/proxy/upstream.js';

let server: https.Server;
let upstream: Upstream;

beforeAll(async () => {
  const ca = createCA('upstream-test', 3_600_000);
  const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3_600_000 });
  // /hold never answers: it keeps the only connection busy.
  server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    if (req.url !== '/hold') res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = {
    server: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`),
    tlsOptions: () => ({ ca: ca.certPem }),
    credentials: () => ({}),
    credentialSource: { current: () => ({ headers: {}, tls: {} }), onTlsChange: () => () => undefined },
  } as unknown as KubeClient;
  upstream = new Upstream(client, 1);
});

afterAll(async () => {
  upstream.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('Upstream', () => {
  it('ends a request queued behind busy connections at its deadline, with one DeadlineExceeded', async () => {
    const hold = upstream.request('GET', '/hold', {});
    hold.on('error', () => undefined);
    hold.end();
    await new Promise((r) => setTimeout(r, 100)); // the hold has the connection
    const started = Date.now();
    const errors: Error[] = [];
    const queued = upstream.request('GET', '/x', {}, { endBy: Date.now() + 300 });
    const failed = new Promise<void>((resolve) => queued.on('error', (err) => {
      errors.push(err);
      resolve();
    }));
    queued.end();
    await failed;
    expect(errors[0]).toBeInstanceOf(DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(5000);
    // The connection comes free later: Node's own late report of the destroyed request reaches no caller.
    hold.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(errors).toHaveLength(1);
  });
});
