// A real agent proxy for integration tests: TLS serving cert for 127.0.0.1 signed by the test CA,
// upstream = the `airlock` identity, TokenReview authentication, the policy engine loaded with the given
// AgentPolicies, and kubeconfigs for test users that point at the proxy.
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentPolicy, Rule } from '../../src/api/types.js';
import type { ApprovalService } from '../../src/approvals/types.js';
import type { MaskerFactory } from '../../src/masking/types.js';
import type { Decision, Explanation, PolicyEngine, ResolvedMasking, RequestAttributes, UserInfo } from '../../src/policy/types.js';
import type { Recorder } from '../../src/recording/types.js';
import { startProxy } from '../../src/proxy/server.js';
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

/** The real policy engine when it exists (src/policy/engine.ts), else a small rule matcher for tests. */
async function makeEngine(): Promise<PolicyEngine> {
  const path = new URL('../../src/policy/engine.ts', import.meta.url);
  if (existsSync(path)) {
    const spec = '../../src/policy/engine.js';
    try {
      const mod = (await import(spec)) as { Engine: new (opts?: unknown) => PolicyEngine };
      return new mod.Engine({});
    } catch (err) {
      console.warn(`[test proxy] real policy engine unavailable (${(err as Error).message}); using the test MiniEngine`);
    }
  }
  return new MiniEngine();
}

function glob(pattern: string, value: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/gu, '\\$&')).join('.*') + '$', 'u');
  return re.test(value);
}
const any = (list: string[] | undefined, v: string) => !list || list.length === 0 || list.some((p) => glob(p, v));

/**
 * Fallback engine for tests until src/policy/engine.ts lands: agents by users/groups, rules in order
 * (verbs, apiGroups, resources incl. subresources, namespaces, names, nonResourceURLs) and the
 * `privileged` detector; first matching rule wins, else defaultAction (deny). spec.masking becomes the
 * decision's masking rules.
 */
export class MiniEngine implements PolicyEngine {
  private readonly policies = new Map<string, AgentPolicy>();
  async upsert(p: AgentPolicy) {
    this.policies.set(p.metadata.name!, p);
    return { ok: true, errors: [], warnings: [] };
  }
  remove(name: string) {
    this.policies.delete(name);
  }
  policiesFor(user: UserInfo): string[] {
    return [...this.policies.values()]
      .filter((p) => (p.spec.agents.users ?? []).some((u) => glob(u, user.username)) || (p.spec.agents.groups ?? []).some((g) => user.groups.some((ug) => glob(g, ug))))
      .map((p) => p.metadata.name!);
  }
  decide(req: RequestAttributes): Decision {
    const names = this.policiesFor(req.user);
    const m = names.map((n) => this.policies.get(n)!.spec.masking).find((x) => x !== undefined);
    const masking: ResolvedMasking | undefined = m
      ? { secrets: m.secrets ?? true, configMaps: m.configMaps ?? true, logs: m.logs ?? true, envNamePatterns: (m.envNamePatterns ?? []).map((p) => new RegExp(p)), patterns: (m.patterns ?? []).map((p) => new RegExp(p)) }
      : undefined;
    const common = { agent: names.length > 0, policies: names, explanations: [], audits: [], recording: { enabled: true, bodies: true }, ...(masking ? { masking } : {}) };
    if (!names.length) return { action: 'allow', ...common };
    for (const name of names) {
      const p = this.policies.get(name)!;
      for (const rule of p.spec.rules ?? []) {
        const m = rule.match ?? {};
        const res = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
        if (m.nonResourceURLs) {
          if (req.isResourceRequest || !any(m.nonResourceURLs, req.path ?? '')) continue;
        } else {
          if (!req.isResourceRequest) continue;
          if (!any(m.apiGroups, req.apiGroup) || !any(m.resources, res)) continue;
          if (m.namespaces && (!req.namespace || !any(m.namespaces, req.namespace))) continue;
          if (!any(m.names, req.name ?? '')) continue;
        }
        if (!any(m.verbs, req.verb)) continue;
        const explanations: Explanation[] = [];
        if (rule.detectors?.includes('privileged')) {
          type PodSpec = { containers?: { name?: string; securityContext?: { privileged?: boolean } }[] };
          const spec = (req.object?.spec ?? {}) as PodSpec & { template?: { spec?: PodSpec } };
          const [podSpec, at] = spec.template?.spec ? [spec.template.spec, 'spec.template.spec'] : [spec, 'spec'];
          (podSpec.containers ?? []).forEach((c, i) => {
            if (c.securityContext?.privileged) explanations.push({ detector: 'privileged', path: `${at}.containers[${i}].securityContext.privileged`, message: `container ${c.name} is privileged` });
          });
          if (!explanations.length) continue;
        }
        const matched = { policy: name, rule: rule.name };
        const c = { ...common, matched, explanations };
        const reason = rule.message ?? `rule ${rule.name}`;
        switch (rule.action) {
          case 'allow': case 'audit': return { action: 'allow', ...c };
          case 'deny': return { action: 'deny', reason, ...c };
          case 'mutate': return { action: 'mutate', patch: rule.mutate?.patch ?? [], reason, ...c };
          case 'hold': return { action: 'hold', reason, hold: { required: 1, ttl: '1h', mode: rule.hold?.mode ?? 'async', inlineTimeout: rule.hold?.inlineTimeout ?? '10s', uses: 1, approvers: { users: rule.hold?.approvers?.users ?? [], groups: rule.hold?.approvers?.groups ?? [] } }, ...c };
        }
      }
      const def = p.spec.defaultAction ?? 'deny';
      const c = { ...common, matched: { policy: name, rule: 'defaultAction' } };
      if (def === 'deny') return { action: 'deny', reason: 'no rule allows this request (defaultAction deny)', ...c };
      return { action: 'allow', ...c };
    }
    return { action: 'deny', reason: 'unreachable', ...common };
  }
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
