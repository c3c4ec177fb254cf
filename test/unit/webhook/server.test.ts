// The webhook server over loopback HTTPS with a scripted engine and approval service (no API server).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Approval } from '../../../src/api/types.js';
import type { ApprovalService, HoldOutcome } from '../../../src/approvals/types.js';
import { createCA, createServingCert } from '../../../src/operator/certs.js';
import type { Decision, PolicyEngine, RequestAttributes } from '../../../src/policy/types.js';
import { startWebhook, type WebhookServer } from '../../../src/webhook/server.js';

const ca = createCA('t', 3600e3);
const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
const common = { agent: true, policies: ['p'], explanations: [], audits: [], recording: { enabled: false, bodies: false } };

class ScriptedEngine implements PolicyEngine {
  next: Decision | Error = { action: 'allow', ...common };
  seen: RequestAttributes[] = [];
  async upsert() { return { ok: true, errors: [], warnings: [] }; }
  remove() {}
  policiesFor() { return []; }
  decide(r: RequestAttributes): Decision {
    this.seen.push(r);
    if (this.next instanceof Error) throw this.next;
    return this.next;
  }
}

class ScriptedApprovals implements ApprovalService {
  outcome: HoldOutcome['state'] = 'pending';
  calls = 0;
  async hold(): Promise<HoldOutcome> {
    this.calls++;
    return { approval: { metadata: { name: 'deployments-web-abc' } } as Approval, state: this.outcome };
  }
  async waitForDecision(): Promise<Approval> { throw new Error('unused'); }
}

function post(wh: WebhookServer, body: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/validate', wh.url), { method: 'POST', ca: ca.certPem, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const review = (user = 'ci', extra: Record<string, unknown> = {}) => ({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, namespace: 'prod', name: 'web', operation: 'CREATE', userInfo: { username: user, groups: ['g'] }, object: { metadata: { name: 'web' } }, ...extra },
});

describe('webhook server', () => {
  const engine = new ScriptedEngine();
  const approvals = new ScriptedApprovals();
  let wh: WebhookServer;
  let failOpen: WebhookServer;
  let ready = false;
  beforeAll(async () => {
    const base = { engine, approvals, tls: { cert: leaf.certPem, key: leaf.keyPem }, exemptUsers: ['airlock'], controllerUsers: ['airlock'] };
    wh = await startWebhook({ ...base, ready: () => ready });
    failOpen = await startWebhook({ ...base, failOpen: true });
  });
  afterAll(async () => { await wh.close(); await failOpen.close(); });

  it('allows, denies with a Forbidden status, and passes audit hits as warnings', async () => {
    engine.next = { action: 'allow', ...common, audits: [{ policy: 'p', rule: 'watch', message: 'seen', explanations: [] }] };
    let r = await post(wh, review());
    expect(r.json.response).toEqual({ uid: 'u-1', allowed: true, warnings: ['airlock audit: AgentPolicy "p" rule "watch": seen'] });
    engine.next = { action: 'deny', reason: 'no', matched: { policy: 'p', rule: 'r' }, ...common };
    r = await post(wh, review());
    expect(r.json.response).toMatchObject({ uid: 'u-1', allowed: false, status: { code: 403, reason: 'Forbidden' } });
    expect(r.json.response.status.message).toContain('denied by policy p rule r');
    expect(engine.seen.at(-1)).toMatchObject({ via: 'webhook', verb: 'create', resource: 'deployments', user: { username: 'ci' } });
  });

  it('answers holds according to the approval outcome', async () => {
    engine.next = { action: 'hold', reason: 'prod', matched: { policy: 'p', rule: 'h' }, ...common, hold: { required: 1, ttl: '1h', mode: 'async', inlineTimeout: '25s', uses: 1, approvers: { users: [], groups: ['a'] } } };
    approvals.outcome = 'pending';
    let r = await post(wh, review());
    expect(r.json.response.allowed).toBe(false);
    expect(r.json.response.status.message).toMatch(/^airlock: held for approval: kubectl approve deployments-web-abc \(Approval deployments-web-abc;/);
    approvals.outcome = 'approved';
    r = await post(wh, review());
    expect(r.json.response.allowed).toBe(true);
    approvals.outcome = 'denied';
    r = await post(wh, review());
    expect(r.json.response.status.message).toContain('was denied');
  });

  it('fails closed on internal errors unless configured to fail open', async () => {
    engine.next = new Error('boom');
    const closed = await post(wh, review());
    expect(closed.json.response).toMatchObject({ allowed: false, status: { code: 500 } });
    expect(closed.json.response.status.message).toContain('failing closed');
    const open = await post(failOpen, review());
    expect(open.json.response.allowed).toBe(true);
    expect(open.json.response.warnings[0]).toContain('failOpen');
  });

  it('skips policy for exempt users but still guards their Approval writes', async () => {
    engine.next = { action: 'deny', reason: 'no', ...common };
    const before = engine.seen.length;
    expect((await post(wh, review('airlock'))).json.response.allowed).toBe(true);
    expect(engine.seen.length).toBe(before);
    const apr = (user: string) => review(user, { resource: { group: 'airlock.dev', version: 'v1alpha1', resource: 'approvals' }, kind: { group: 'airlock.dev', version: 'v1alpha1', kind: 'Approval' } });
    engine.next = { action: 'allow', ...common };
    expect((await post(wh, apr('mallory'))).json.response.status.message).toContain('only the Airlock controller may create Approvals');
    expect((await post(wh, apr('airlock'))).json.response.allowed).toBe(true);
  });

  it('rejects malformed reviews with 400 and serves probes', async () => {
    const r = await post(wh, '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}');
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('request.uid is missing');
    const probe = (path: string) => new Promise<number>((resolve, reject) => https.get(new URL(path, wh.url), { ca: ca.certPem, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject));
    expect(await probe('/healthz')).toBe(200);
    expect(await probe('/readyz')).toBe(503);
    ready = true;
    expect(await probe('/readyz')).toBe(200);
    expect(await probe('/nope')).toBe(404);
  });

  it('reloads the certificate when the mounted files change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-wh-certs-'));
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, leaf.certPem);
    writeFileSync(keyFile, leaf.keyPem);
    const server = await startWebhook({ engine, tls: { cert: leaf.certPem, key: leaf.keyPem }, certFiles: { cert: certFile, key: keyFile, intervalMs: 50 } });
    const serial = (): Promise<string> => new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, servername: 'localhost' }, () => { resolve(s.getPeerCertificate().serialNumber); s.end(); });
      s.on('error', reject);
    });
    try {
      expect(await serial()).toBe(new X509Certificate(leaf.certPem).serialNumber);
      const next = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
      writeFileSync(keyFile, next.keyPem);
      writeFileSync(certFile, next.certPem);
      const want = new X509Certificate(next.certPem).serialNumber;
      const deadline = Date.now() + 5000;
      let got = '';
      while (Date.now() < deadline && (got = await serial()) !== want) await new Promise((r) => setTimeout(r, 50));
      expect(got).toBe(want);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
