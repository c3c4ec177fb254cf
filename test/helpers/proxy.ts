// A real agent proxy for integration tests: TLS serving cert for 127.0.0.1 signed by the test CA,
// upstream = the `airlock` identity, TokenReview authentication, the policy engine loaded with the given
// AgentPolicies, and kubeconfigs for test users that point at the proxy.
import type { Tracing } from '../../src/tracing/tracer.js';
import { Engine } from '../../src/policy/engine.js';
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentPolicy, Rule } from '../../src/api/types.js';
import type { ApprovalService } from '../../src/approvals/types.js';
import type { MaskerFactory } from '../../src/masking/types.js';
import type { PolicyEngine } from '../../src/policy/types.js';
import type { Recorder } from '../../src/recording/types.js';
import { startProxy } from '../../src/proxy/server.js';
import type { ServiceAccountChecker } from '../../src/policy/service-account-enrich.js';
import type { ProxiedRequest } from '../../src/identity/proxied-token.js';
import { TokenReviewAuthenticator, unionAuthenticator, type Authenticator, type TokenAuthenticator } from '../../src/proxy/auth/index.js';
import { clientFor, testEnv, type TestUser } from './env.js';

export interface TestProxyOptions {
  policies?: AgentPolicy[];
  engine?: PolicyEngine;
  approvals?: ApprovalService;
  masker?: MaskerFactory;
  recorder?: Recorder;
  maxBodyBytes?: number;
  /** Extra token authenticators tried before TokenReview (e.g. OIDC). */
  tokens?: TokenAuthenticator[];
  auth?: Authenticator;
  clientCA?: string;
  serviceAccounts?: ServiceAccountChecker;
  proxiedSigner?: (req: ProxiedRequest) => string;
  tracing?: Tracing;
}

export interface TestProxy {
  url: string;
  port: number;
  caFile: string;
  engine: PolicyEngine;
  kubeconfigFor(user: TestUser | { name: string; token: string }): string;
  close(): Promise<void>;
}

let certs: { cert: string; key: string } | undefined;

/** A serving certificate for 127.0.0.1/localhost signed by the test CA (made once per test file, kept in memory). */
export function servingCert(): { cert: string; key: string } {
  if (certs) return certs;
  const env = testEnv();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-proxy-cert-'));
  try {
    const key = join(dir, 'proxy.key');
    const csr = join(dir, 'proxy.csr');
    const crt = join(dir, 'proxy.crt');
    const ext = join(dir, 'proxy.ext');
    writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=airlock-proxy', '-keyout', key, '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', env.caFile, '-CAkey', env.caKeyFile, '-CAcreateserial', '-CAserial', join(dir, 'ca.srl'), '-days', '2', '-extfile', ext, '-out', crt], { stdio: 'ignore' });
    certs = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return certs;
}

/** The real policy engine (src/policy/engine.ts), as production uses it. */
async function makeEngine(): Promise<PolicyEngine> {
  return new Engine({});
}

let userCounter = 0;

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const env = testEnv();
  const { cert, key } = servingCert();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-proxy-'));
  const engine = opts.engine ?? (await makeEngine());
  for (const p of opts.policies ?? []) {
    const r = await engine.upsert(p);
    if (!r.ok) throw new Error(`policy ${p.metadata.name} does not compile: ${r.errors.join('; ')}`);
  }
  const upstream = await clientFor('airlock');
  const auth = opts.auth ?? unionAuthenticator({ clientCerts: !!opts.clientCA, tokens: [...(opts.tokens ?? []), new TokenReviewAuthenticator(upstream)] });
  const handle = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    tls: { cert, key, ...(opts.clientCA ? { clientCA: opts.clientCA } : {}) },
    upstream,
    engine,
    approvals: opts.approvals,
    masker: opts.masker,
    recorder: opts.recorder,
    auth,
    maxBodyBytes: opts.maxBodyBytes,
    ...(opts.serviceAccounts ? { serviceAccounts: opts.serviceAccounts } : {}),
    ...(opts.proxiedSigner ? { proxiedSigner: opts.proxiedSigner } : {}),
    ...(opts.tracing ? { tracing: opts.tracing } : {}),
  });
  const url = `https://127.0.0.1:${handle.port}`;
  return {
    url,
    port: handle.port,
    caFile: env.caFile,
    engine,
    kubeconfigFor(user) {
      const name = typeof user === 'string' ? user : user.name;
      const token = typeof user === 'string' ? env.tokens[user] : user.token;
      const file = join(dir, `${name}-${handle.port}-${userCounter++}.kubeconfig`);
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: airlock',
          `  cluster: {server: "${url}", certificate-authority: "${env.caFile}"}`,
          'users:',
          `- name: ${JSON.stringify(name)}`,
          `  user: {token: ${JSON.stringify(token)}}`,
          'contexts:',
          `- name: airlock`,
          `  context: {cluster: airlock, user: ${JSON.stringify(name)}}`,
          'current-context: airlock',
          '',
        ].join('\n'),
      );
      return file;
    },
    close: async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Record<string, unknown>;
}

/**
 * A raw HTTPS request (exact path, exact headers, any body) for tests that must send what well-behaved
 * clients never would. Trusts the test CA; `chunked` streams the body without a Content-Length.
 */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  opts: { token?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; chunked?: boolean } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  const headers: Record<string, string | string[]> = { accept: 'application/json', ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ hostname: u.hostname, port: u.port, method, path, headers, ca: readFileSync(testEnv().caFile), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined && opts.chunked) {
      const buf = Buffer.from(opts.body);
      let off = 0;
      const pump = () => {
        while (off < buf.length) {
          const ok = req.write(buf.subarray(off, off + 16384));
          off += 16384;
          if (!ok) return void req.once('drain', pump);
        }
        req.end();
      };
      req.on('error', () => undefined);
      pump();
    } else req.end(opts.body);
  });
}

// ---------- AgentPolicy fixtures shared by the proxy integration tests ----------

export function agentPolicy(name: string, rules: Rule[], users = ['agent-ci']): AgentPolicy {
  return {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AgentPolicy',
    metadata: { name },
    spec: {
      agents: { users },
      defaultAction: 'deny',
      recording: { enabled: true, bodies: true },
      rules,
    },
  };
}

/** The guard used by most proxy tests: discovery allowed, secrets/exec/privileged denied, the rest allowed. */
export const guardRules: Rule[] = [
  { name: 'discovery', match: { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version', '/version/*'], verbs: ['get'] }, action: 'allow' },
  { name: 'no-secrets', match: { apiGroups: [''], resources: ['secrets'], verbs: ['*'] }, action: 'deny', message: 'agents may not touch secrets' },
  { name: 'no-exec', match: { apiGroups: [''], resources: ['pods/exec', 'pods/attach'], verbs: ['*'] }, action: 'deny', message: 'no shells in pods' },
  { name: 'no-privileged', match: { apiGroups: ['', 'apps'], resources: ['pods', 'deployments'], verbs: ['create', 'update', 'patch'] }, detectors: ['privileged'], action: 'deny', message: 'privileged pods are not allowed' },
  { name: 'everything-else', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
];
