import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA, createServingCert, needsRotation, servingCertValid } from '../../../src/operator/certs.js';

describe('webhook certificates (node:crypto, DER built in-house)', () => {
  const ca = createCA('airlock-test-ca', 86400e3);
  const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost', 'airlock-webhook.airlock-system.svc'], ipAddresses: ['127.0.0.1', '::1'], lifetimeMs: 3600e3 });

  it('issues a CA and a serving certificate that verify and carry the wanted names', () => {
    const c = new X509Certificate(ca.certPem);
    const l = new X509Certificate(leaf.certPem);
    expect(c.ca).toBe(true);
    expect(l.ca).toBe(false);
    expect(l.verify(c.publicKey)).toBe(true);
    expect(l.checkIssued(c)).toBe(true);
    expect(l.checkHost('airlock-webhook.airlock-system.svc')).toBe('airlock-webhook.airlock-system.svc');
    expect(l.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(l.checkIP('::1')).toBeDefined();
    expect(l.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // extended key usage serverAuth
    expect(servingCertValid({ cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem }, ['localhost'], ['127.0.0.1'])).toBe(true);
    expect(servingCertValid({ cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem }, ['other.example'], [])).toBe(false);
    expect(servingCertValid({ cert: leaf.certPem, key: ca.keyPem, ca: ca.certPem }, [], [])).toBe(false);
  });

  it('serves TLS that a client trusting only the CA accepts', async () => {
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_q, r) => r.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem }, () => { resolve(s.authorized); s.end(); });
        s.on('error', reject);
      });
      expect(authorized).toBe(true);
      const other = createCA('someone-else', 86400e3);
      const err = await new Promise<Error>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: other.certPem }, () => { s.end(); resolve(new Error('connected')); });
        s.on('error', resolve);
      });
      expect(err.message).toMatch(/certificate|signature/i);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('is due for rotation after 2/3 of its lifetime', () => {
    const now = Date.now();
    const c = new X509Certificate(leaf.certPem);
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    expect(needsRotation(leaf.certPem, now)).toBe(false);
    expect(needsRotation(leaf.certPem, from + (to - from) * 0.7)).toBe(true);
    expect(needsRotation(undefined)).toBe(true);
    expect(needsRotation('garbage')).toBe(true);
  });
});
