// The admission webhook against a real kube-apiserver: registered by URL with real TLS, deciding with the
// real policy Engine. Deny with field paths, mutate-as-deny, audit (warnings, Events, ConfigMap summary),
// dry-run holds without side effects, malformed AdmissionReviews, and certificate hot reload.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { KubeApiError } from '../../src/k8s/client.js';
import { createServingCert, ensureWebhookCerts } from '../../src/operator/certs.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { deleteWebhookConfiguration, WebhookConfigSyncer } from '../../src/operator/webhook-config.js';
import { eventually, clientFor } from '../helpers/env.js';
import { policy, startFixture, waitForWebhook, SCOPE_LABEL, type Fixture } from './webhook-fixtures.js';

const PRIV_POD = (ns: string, name: string) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'main', image: 'registry.example.com/app@sha256:' + 'a'.repeat(64), securityContext: { privileged: true } }] },
});

function post(fx: Fixture, body: string | Buffer, path = '/validate'): Promise<{ status: number; json: Record<string, unknown> }> {
  const u = new URL(path, fx.webhook.url);
  return new Promise((resolve, reject) => {
    const req = https.request(u, { method: 'POST', ca: fx.certs.caBundle, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }); } catch { reject(new Error(`not JSON: ${text.slice(0, 200)}`)); }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const review = (apiVersion: string, request: Record<string, unknown>) => JSON.stringify({ apiVersion, kind: 'AdmissionReview', request });
const podRequest = (ns: string, uid: string, privileged: boolean) => ({
  uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: ns, name: 'p', operation: 'CREATE',
  userInfo: { username: 'agent-ci', groups: ['airlock:agents', 'system:authenticated'] },
  object: PRIV_POD(ns, 'p') && { ...PRIV_POD(ns, 'p'), spec: { containers: [{ name: 'main', image: 'x', securityContext: { privileged } }] } },
  options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
});

describe('admission webhook (real kube-apiserver, URL registration, TLS)', () => {
  let fx: Fixture;
  let ns: string;
  beforeAll(async () => {
    fx = await startFixture('wh', [
      policy('wh-gitops-' + process.pid.toString(36), {
        agents: { users: ['agent-ci'] },
        defaultAction: 'allow',
        rules: [
          { name: 'no-privileged', match: { resources: ['pods'], verbs: ['create', 'update'] }, detectors: ['privileged'], action: 'deny' },
          { name: 'team-label', match: { resources: ['services'], verbs: ['create'] }, action: 'mutate', mutate: { patch: [{ op: 'add', path: '/metadata/labels/team', value: 'platform' }] } },
          { name: 'watch-configmaps', match: { resources: ['configmaps'], verbs: ['create'] }, action: 'audit', message: 'agent wrote a ConfigMap' },
          { name: 'hold-secrets', match: { resources: ['secrets'], verbs: ['create'] }, action: 'hold', hold: { approvers: { groups: ['airlock:approvers'] }, ttl: '10m' } },
        ],
      }),
    ]);
    ns = await fx.namespace('apps');
    const agent = await clientFor('agent-ci');
    await waitForWebhook(fx, ns, () => agent.create(`/api/v1/namespaces/${ns}/pods`, PRIV_POD(ns, 'probe'), { query: { dryRun: 'All' } }), 'pods');
  }, 90000);
  afterAll(async () => { await fx?.close(); });

  it('denies a privileged pod from a GitOps identity named in the policy, naming the field', async () => {
    const agent = await clientFor('agent-ci');
    const err = await agent.create(`/api/v1/namespaces/${ns}/pods`, PRIV_POD(ns, 'priv')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    const e = err as KubeApiError;
    expect(e.status).toBe(403);
    expect(e.message).toContain('spec.containers[0].securityContext.privileged');
    expect(e.message).toContain('no-privileged');
    // The same pod from an identity no policy governs is admitted (dry run: nothing is scheduled).
    const admin = await clientFor('admin');
    await expect(admin.create(`/api/v1/namespaces/${ns}/pods`, PRIV_POD(ns, 'priv'), { query: { dryRun: 'All' } })).resolves.toBeTruthy();
  });

  it('answers mutate rules with a deny that names the patch the policy requires', async () => {
    const agent = await clientFor('agent-ci');
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { ports: [{ port: 80 }] } };
    const err = (await agent.create(`/api/v1/namespaces/${ns}/services`, svc).catch((e: unknown) => e)) as KubeApiError;
    expect(err.status).toBe(403);
    expect(err.message).toContain('team-label');
    expect(err.message).toContain('/metadata/labels/team');
  });

  it('audit-only rules never block: they return warnings and write Events and the airlock-audit ConfigMap', async () => {
    const agent = await clientFor('agent-ci');
    const res = await agent.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } } });
    expect(res.status).toBe(201);
    expect(String(res.headers.warning ?? '')).toContain('watch-configmaps');
    const admin = fx.admin;
    const ev = await eventually(async () => {
      const list = await admin.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(`/api/v1/namespaces/${ns}/events`);
      return list.items.find((e) => e.reason === 'AirlockAudit' && e.involvedObject.name === 'settings');
    }, 20000, 'AirlockAudit event');
    expect(ev.message).toContain('watch-configmaps');
    expect(ev.message).toContain('agent-ci');
    const cm = await eventually(async () => {
      const c = await admin.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/airlock-audit`);
      return Object.entries(c.data ?? {}).find(([k]) => k.endsWith('.watch-configmaps'));
    }, 20000, 'airlock-audit summary');
    expect(JSON.parse(cm[1])).toMatchObject({ count: 1, lastUser: 'agent-ci' });
  });

  it('on dry-run a held request creates no Approval (sideEffects NoneOnDryRun)', async () => {
    const agent = await clientFor('agent-ci');
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { token: 'x' } };
    const err = (await agent.create(`/api/v1/namespaces/${ns}/secrets`, secret, { query: { dryRun: 'All' } }).catch((e: unknown) => e)) as KubeApiError;
    expect(err.message).toContain('would be held for approval');
    expect(err.status).toBe(403);
    const list = await fx.admin.get<{ items: unknown[] }>('/apis/airlock.dev/v1alpha1/approvals', { query: { labelSelector: `${SCOPE_LABEL}=${fx.id}` } });
    expect(list.items).toHaveLength(0);
  });

  it('registers the exempt namespaces, both review versions, NoneOnDryRun and the approvals/status guard', async () => {
    const cfg = await fx.admin.get<{ webhooks: Record<string, unknown>[] }>(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${fx.id}`);
    const policyHook = cfg.webhooks.find((w) => w.name === 'policy.webhook.airlock.dev')!;
    expect(policyHook).toMatchObject({ sideEffects: 'NoneOnDryRun', matchPolicy: 'Equivalent', failurePolicy: 'Fail', timeoutSeconds: 10, admissionReviewVersions: ['v1', 'v1beta1'] });
    // Only named agents are sent: kube-system and Airlock's namespace are judged for them too.
    expect(JSON.stringify(policyHook.namespaceSelector)).not.toContain('kube-system');
    expect(JSON.stringify(policyHook.namespaceSelector)).not.toContain(fx.systemNs);
    const apprHook = cfg.webhooks.find((w) => w.name === 'approvals.webhook.airlock.dev')!;
    expect(JSON.stringify(apprHook.rules)).toContain('approvals/status');
  });

  it('survives malformed AdmissionReviews with clear 400s, then still serves', async () => {
    const bad: [string | Buffer, RegExp][] = [
      ['{not json', /not valid JSON/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), /kind must be AdmissionReview/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request is missing/],
      [review('admission.k8s.io/v1', { ...podRequest(ns, '', false), uid: undefined }), /request\.uid is missing/],
      [review('admission.k8s.io/v2', podRequest(ns, 'u', false)), /apiVersion must be one of/],
      [review('admission.k8s.io/v1', { ...podRequest(ns, 'u', false), userInfo: { groups: 'x' } }), /userInfo/],
      [JSON.stringify([1, 2, 3]), /JSON object/],
      [Buffer.alloc(4 * 1024 * 1024, 0x20), /exceeds the 3145728-byte limit/],
    ];
    for (const [body, msg] of bad) {
      const res = await post(fx, body);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
      expect(String(res.json.message)).toMatch(msg);
    }
    // Still serving: a v1beta1 review is answered in v1beta1 with the request's uid.
    const ok = await post(fx, review('admission.k8s.io/v1beta1', podRequest(ns, 'uid-1', true)));
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'uid-1', allowed: false, status: { code: 403, reason: 'Forbidden' } } });
    const allowed = await post(fx, review('admission.k8s.io/v1', podRequest(ns, 'uid-2', false)));
    expect(allowed.json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', response: { uid: 'uid-2', allowed: true } });
    const health = await new Promise<number>((resolve, reject) => https.get(new URL('/healthz', fx.webhook.url), { ca: fx.certs.caBundle, agent: false }, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', reject));
    expect(health).toBe(200);
  });

  it('hot-reloads a rotated serving certificate without a restart', async () => {
    const peerSerial = (): Promise<string> => new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: fx.webhook.port, ca: fx.certs.caBundle, servername: 'localhost' }, () => { resolve(s.getPeerCertificate().serialNumber); s.end(); });
      s.on('error', reject);
    });
    const before = await peerSerial();
    expect(before).toBe(new X509Certificate(fx.certs.cert).serialNumber);
    const secret = await fx.admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${fx.systemNs}/secrets/webhook-tls`);
    const caKey = Buffer.from(secret.data['ca.key']!, 'base64').toString();
    createPrivateKey(caKey); // the CA key is stored so a later rotation can sign with it
    const fresh = createServingCert({ certPem: fx.certs.caBundle, keyPem: caKey }, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
    fx.webhook.updateCertificate({ cert: fresh.certPem, key: fresh.keyPem });
    const after = await peerSerial();
    expect(after).toBe(new X509Certificate(fresh.certPem).serialNumber);
    expect(after).not.toBe(before);
    // The API server still trusts it (same CA): a denial still comes from the webhook.
    const agent = await clientFor('agent-ci');
    const err = (await agent.create(`/api/v1/namespaces/${ns}/pods`, PRIV_POD(ns, 'after-rotate'), { query: { dryRun: 'All' } }).catch((e: unknown) => e)) as KubeApiError;
    expect(err.message).toContain('securityContext.privileged');
  });

  it('keeps certificates in a Secret: reuses them until due, then rotates keeping the old CA trusted', async () => {
    const metrics = createMetrics();
    const opts = { namespace: fx.systemNs, secretName: 'webhook-tls', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], metrics };
    const same = await ensureWebhookCerts(fx.airlock, opts);
    expect(same.rotated).toBe(false);
    expect(same.cert).toBe(fx.certs.cert);
    const metric = (await metrics.registry.getSingleMetric('airlock_certificate_expiry_timestamp_seconds')!.get()).values.find((v) => v.labels.use === 'webhook');
    expect(metric?.value).toBe(same.notAfter.getTime() / 1000);
    const rotated = await ensureWebhookCerts(fx.airlock, { ...opts, rotateFraction: 0 });
    expect(rotated.rotated).toBe(true);
    expect(rotated.cert).not.toBe(same.cert);
    expect(rotated.caBundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(rotated.caBundle).toContain(fx.certs.caBundle.trim());
    const stored = await fx.admin.get<{ type: string; data: Record<string, string> }>(`/api/v1/namespaces/${fx.systemNs}/secrets/webhook-tls`);
    expect(stored.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(stored.data['tls.crt']!, 'base64').toString()).toBe(rotated.cert);
  });

  it('the configuration syncer applies once per change and restores a deleted configuration on resync', async () => {
    const name = `${fx.id}-resync`;
    const path = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`;
    // Scoped to a label no namespace carries, and to Approvals no one labels: it never intercepts anything.
    const syncer = new WebhookConfigSyncer(fx.admin, {
      name, url: fx.webhook.url, operatorNamespace: fx.systemNs,
      namespaceSelector: { matchLabels: { [SCOPE_LABEL]: `${fx.id}-nobody` } }, approvalObjectSelector: { matchLabels: { [SCOPE_LABEL]: `${fx.id}-nobody` } },
    }, { resyncMs: 300 });
    try {
      syncer.setCaBundle(fx.certs.caBundle);
      syncer.setPolicies(fx.policies);
      await syncer.flush();
      const first = await fx.admin.get<{ metadata: { resourceVersion: string } }>(path);
      await syncer.flush(); // unchanged: no write
      expect((await fx.admin.get<{ metadata: { resourceVersion: string } }>(path)).metadata.resourceVersion).toBe(first.metadata.resourceVersion);
      await deleteWebhookConfiguration(fx.admin, name);
      await eventually(() => fx.admin.get(path).then(() => true, () => false), 10000, 'configuration restored by resync');
    } finally {
      syncer.stop();
      await deleteWebhookConfiguration(fx.admin, name);
    }
  });
});
