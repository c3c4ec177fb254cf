// Authentication at the agent proxy: OIDC (in-test issuer with discovery, JWKS and key rotation),
// ServiceAccount tokens via TokenReview, and client certificates against a client CA.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { OidcAuthenticator } from '../../src/proxy/auth/index.js';
import { clientFor, testEnv, uniqueName } from '../helpers/env.js';
import { rawRequest, servingCert, startTestProxy, type TestProxy, agentPolicy, guardRules } from '../helpers/proxy.js';

interface Key { kid: string; privateKey: CryptoKey; jwk: JWK }

async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

let issuerServer: Server;
let issuer: string;
let published: Key[] = [];
let jwksFetches = 0;
let proxy: TestProxy;
const ns = uniqueName('auth');
const saName = 'bot';

async function idToken(key: Key, claims: Record<string, unknown>, opts: { exp?: number; nbf?: number; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(issuer)
    .setAudience(opts.aud ?? 'airlock')
    .setIssuedAt(now)
    .setNotBefore(opts.nbf ?? now)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(key.privateKey);
}

function whoami(token: string): Promise<{ status: number; user?: { username: string; groups: string[]; extra?: Record<string, string[]> } }> {
  return rawRequest(proxy.url, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    token,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
  }).then((r) => ({ status: r.status, user: r.status === 201 ? (r.json().status as { userInfo: { username: string; groups: string[] } }).userInfo : undefined }));
}

beforeAll(async () => {
  const { cert, key } = servingCert();
  issuerServer = createServer({ cert, key }, (req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/keys') {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => issuerServer.listen(0, '127.0.0.1', r));
  issuer = `https://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
  published = [await newKey('k1')];
  const oidc = new OidcAuthenticator({
    issuerUrl: issuer,
    audiences: ['airlock'],
    usernameClaim: 'sub',
    usernamePrefix: 'oidc:',
    groupsClaim: 'groups',
    groupsPrefix: 'oidc:',
    clockSkewSeconds: 30,
    ca: readFileSync(testEnv().caFile),
    jwksCooldownSeconds: 0,
  });
  const policy = agentPolicy(uniqueName('authn'), guardRules, ['oidc:*', `system:serviceaccount:${ns}:${saName}`, 'cert-agent']);
  proxy = await startTestProxy({ policies: [policy], tokens: [oidc], clientCA: readFileSync(testEnv().caFile, 'utf8') });
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: saName } });
});
afterAll(async () => {
  await proxy?.close();
  await new Promise((r) => issuerServer?.close(r));
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('OIDC', () => {
  it('accepts a valid ID token: prefixed username and groups impersonated upstream; claims stay in Airlock', async () => {
    const token = await idToken(published[0]!, { sub: 'agent-7', groups: ['deployers'], team: 'payments', email: 'a7@example.com' });
    const r = await whoami(token);
    expect(r.status).toBe(201);
    expect(r.user!.username).toBe('oidc:agent-7');
    expect(r.user!.groups).toContain('oidc:deployers');
    // Claims are user extras for Airlock's policies (agents.claims) but are not sent upstream, so the
    // proxy needs no impersonation rights for arbitrary claim names.
    expect(Object.keys(r.user!.extra ?? {}).filter((k) => k.startsWith('oidc.airlock.dev/'))).toEqual([]);
  });

  it('RBAC still applies: the OIDC agent has no rights of its own', async () => {
    const token = await idToken(published[0]!, { sub: 'agent-8' });
    const r = await rawRequest(proxy.url, 'GET', `/api/v1/namespaces/${ns}/configmaps`, { token });
    expect(r.status).toBe(403);
    expect(r.json().message).toContain('User "oidc:agent-8" cannot list resource "configmaps"');
  });

  it('refuses expired, not-yet-valid, wrong-audience and foreign-issuer tokens with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const k = published[0]!;
    const tokens = [
      await idToken(k, { sub: 'x' }, { exp: now - 120 }),
      await idToken(k, { sub: 'x' }, { nbf: now + 600 }),
      await idToken(k, { sub: 'x' }, { aud: 'someone-else' }),
    ];
    const foreign = await newKey('k1'); // same kid, different key: signature check fails
    tokens.push(await idToken(foreign, { sub: 'x' }));
    for (const t of tokens) {
      const r = await rawRequest(proxy.url, 'GET', '/api', { token: t });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
  });

  it('tolerates clock skew within the configured bound', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = await whoami(await idToken(published[0]!, { sub: 'skewed' }, { exp: now - 10, nbf: now + 10 }));
    expect(r.status).toBe(201);
  });

  it('follows key rotation: a token signed with a new key works once the issuer publishes it', async () => {
    const k2 = await newKey('k2');
    const token = await idToken(k2, { sub: 'rotated' });
    expect((await whoami(token)).status).toBe(401);
    const before = jwksFetches;
    published = [published[0]!, k2];
    const r = await whoami(token);
    expect(r.status).toBe(201);
    expect(r.user!.username).toBe('oidc:rotated');
    expect(jwksFetches).toBeGreaterThan(before);
    published = [k2]; // k1 retired
    expect((await whoami(await idToken(k2, { sub: 'rotated' }))).status).toBe(201);
  });
});

describe('ServiceAccount tokens (TokenReview)', () => {
  it('authenticates a bound ServiceAccount token and caches the review', async () => {
    const admin = await clientFor('admin');
    const tr = await admin.create<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/${saName}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
    const r = await whoami(tr.status.token);
    expect(r.status).toBe(201);
    expect(r.user!.username).toBe(`system:serviceaccount:${ns}:${saName}`);
    expect(r.user!.groups).toContain(`system:serviceaccounts:${ns}`);
    const again = await whoami(tr.status.token);
    expect(again.user!.username).toBe(`system:serviceaccount:${ns}:${saName}`);
  });
});

describe('client certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-proxy-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function clientCert(cn: string, o: string, signer: { crt: string; key: string }): { cert: string; key: string } {
    const base = join(dir, `client-${cn}-${Date.now()}`);
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}/O=${o}`, '-keyout', `${base}.key`, '-out', `${base}.csr`], { stdio: 'ignore' });
    writeFileSync(`${base}.ext`, 'extendedKeyUsage=clientAuth\n');
    execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', signer.crt, '-CAkey', signer.key, '-CAcreateserial', '-CAserial', `${base}.srl`, '-days', '1', '-extfile', `${base}.ext`, '-out', `${base}.crt`], { stdio: 'ignore' });
    return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
  }

  function get(cred: { cert: string; key: string }, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const u = new URL(proxy.url);
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ hostname: u.hostname, port: u.port, path, method: 'POST', ca: readFileSync(testEnv().caFile), cert: cred.cert, key: cred.key, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }));
    });
  }

  it('authenticates CN/O from a certificate signed by the client CA', async () => {
    const env = testEnv();
    const cred = clientCert('cert-agent', 'airlock:agents', { crt: env.caFile, key: env.caKeyFile });
    const r = await get(cred, '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    expect(r.status).toBe(201);
    const info = (r.body.status as { userInfo: { username: string; groups: string[] } }).userInfo;
    expect(info.username).toBe('cert-agent');
    expect(info.groups).toContain('airlock:agents');
  });

  it('refuses a certificate from another CA with 401', async () => {
    const otherKey = join(dir, 'other-ca.key');
    const otherCrt = join(dir, 'other-ca.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=evil-ca', '-keyout', otherKey, '-out', otherCrt], { stdio: 'ignore' });
    const cred = clientCert('cert-agent', 'system:masters', { crt: otherCrt, key: otherKey });
    const r = await get(cred, '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
  });
});
