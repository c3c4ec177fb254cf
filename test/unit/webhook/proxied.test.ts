// The webhook's airlock.dev/proxied exemption: only a token signed for exactly the admitted request, and
// still valid, skips policy; everything else (another request's token, a replay after expiry, several
// values, the old static marker) is judged.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Fields, Logger } from '../../../src/log.js';
import { createCA, createServingCert } from '../../../src/operator/certs.js';
import { PROXIED_EXTRA_KEY, proxiedSigner, type ProxiedRequest } from '../../../src/identity/proxied-token.js';
import type { Decision, PolicyEngine, RequestAttributes } from '../../../src/policy/types.js';
import type { AdmissionRequest } from '../../../src/webhook/admission.js';
import { admittedRequest } from '../../../src/webhook/proxied.js';
import { startWebhook, type WebhookServer } from '../../../src/webhook/server.js';

const ca = createCA('t', 3600e3);
const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
const common = { agent: true, policies: ['p'], explanations: [], audits: [], recording: { enabled: false, bodies: false } };

class DenyingEngine implements PolicyEngine {
  seen: RequestAttributes[] = [];
  async upsert() { return { ok: true, errors: [], warnings: [] }; }
  remove() {}
  policiesFor() { return []; }
  decide(r: RequestAttributes): Decision {
    this.seen.push(r);
    return { action: 'deny', reason: 'privileged', matched: { policy: 'p', rule: 'no-privileged' }, ...common };
  }
}

const key = randomBytes(32);
const agent = { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents'] };
const podCreate: ProxiedRequest = { user: agent, verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'apps', name: 'priv' };

/** The AdmissionRequest kube-apiserver sends for a request impersonating the agent with `extra`. */
const admission = (extra: Record<string, string[]> | undefined, over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
  requestResource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'apps', name: 'priv', operation: 'CREATE',
  userInfo: { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents', 'system:authenticated'], ...(extra ? { extra } : {}) },
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'priv', namespace: 'apps' }, spec: { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] } },
  options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
  dryRun: false,
  ...over,
});

describe('webhook: proxied-request exemption', () => {
  const engine = new DenyingEngine();
  const logs: { msg: string; fields?: Fields }[] = [];
  const push = (msg: string, fields?: Fields): void => void logs.push({ msg, ...(fields ? { fields } : {}) });
  const log: Logger = { debug: push, info: push, warn: push, error: push, child: () => log };
  let clock = 1_750_000_000_000;
  const now = () => clock;
  const sign = proxiedSigner(key, now);
  let wh: WebhookServer;
  beforeAll(async () => {
    wh = await startWebhook({ engine, tls: { cert: leaf.certPem, key: leaf.keyPem }, proxiedKey: key, now, log });
  });
  afterAll(async () => { await wh.close(); });

  const judged = async (r: AdmissionRequest): Promise<boolean> => {
    const before = engine.seen.length;
    const res = await wh.review(r);
    const wasJudged = engine.seen.length > before;
    expect(res.allowed).toBe(!wasJudged); // the engine always denies: admitted means exempt
    return wasJudged;
  };

  it('exempts a request whose token was signed for exactly that request', async () => {
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [sign(podCreate)] }))).toBe(false);
  });

  it('judges a request carrying a valid token for ANOTHER request (e.g. the one kubectl auth whoami showed)', async () => {
    const whoami = sign({ user: agent, verb: 'create', apiGroup: 'authentication.k8s.io', apiVersion: 'v1', resource: 'selfsubjectreviews' });
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [whoami] }))).toBe(true);
    expect(logs.at(-1)).toMatchObject({ msg: expect.stringContaining('token refused'), fields: { reason: expect.any(String), user: 'agent-ci' } });
    const otherPod = sign({ ...podCreate, name: 'harmless' });
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [otherPod] }))).toBe(true);
    const otherNs = sign({ ...podCreate, namespace: 'sandbox' });
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [otherNs] }))).toBe(true);
    const dryRunOnly = sign({ ...podCreate, dryRun: true });
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [dryRunOnly] }))).toBe(true);
    const otherUser = sign({ ...podCreate, user: { ...agent, username: 'agent-cd' } });
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [otherUser] }))).toBe(true);
  });

  it('judges a replayed token once it has expired', async () => {
    const token = sign(podCreate);
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [token] }))).toBe(false);
    clock += 31_000;
    try {
      expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [token] }))).toBe(true);
      expect(logs.at(-1)?.fields).toMatchObject({ reason: 'expired token' });
    } finally {
      clock -= 31_000;
    }
  });

  it('judges several values, the old static marker, no extra, and any value when no key is configured', async () => {
    const token = sign(podCreate);
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: [token, token] }))).toBe(true);
    expect(await judged(admission({ [PROXIED_EXTRA_KEY]: ['9f'.repeat(32)] }))).toBe(true);
    expect(await judged(admission(undefined))).toBe(true);
    const keyless = await startWebhook({ engine, tls: { cert: leaf.certPem, key: leaf.keyPem }, now });
    try {
      const before = engine.seen.length;
      expect((await keyless.review(admission({ [PROXIED_EXTRA_KEY]: [token] }))).allowed).toBe(false);
      expect(engine.seen.length).toBe(before + 1);
    } finally {
      await keyless.close();
    }
  });

  it('verifies generateName creates, where the API server reports the generated name', async () => {
    const token = sign({ ...podCreate, name: undefined });
    const generated = (name: string, generateName?: string) =>
      admission({ [PROXIED_EXTRA_KEY]: [token] }, { name, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name, ...(generateName ? { generateName } : {}), namespace: 'apps' } } });
    expect(await judged(generated('priv-ab12c', 'priv-'))).toBe(false);
    expect(await judged(generated('priv-ab12c'))).toBe(true); // a named create needs its name signed
    expect(await judged(generated('other-ab12c', 'priv-'))).toBe(true);
  });

  it('binds the resource as requested (requestResource), not as converted for the webhook', () => {
    const r = admission(undefined, {
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestResource: { group: 'extensions', version: 'v1beta1', resource: 'deployments' },
      subResource: 'scale', requestSubResource: 'scale',
    });
    expect(admittedRequest(r)).toMatchObject({ apiGroup: 'extensions', apiVersion: 'v1beta1', resource: 'deployments', subresource: 'scale', operation: 'CREATE' });
    expect(admittedRequest({ ...r, requestResource: undefined })).toMatchObject({ apiGroup: 'apps', apiVersion: 'v1' });
  });
});
