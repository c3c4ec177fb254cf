// The product as shipped, for attack tests: the agent proxy with the default AgentPolicy
// (examples/default-agent-policy.yaml), the real masker, a file recorder, real Approvals; and canaries:
// secret values planted in every place an attacker would look, with a scanner that finds them in any
// encoding in anything the agent received or the recordings hold.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import yaml from 'js-yaml';
import type { AgentPolicy } from '../../src/api/types.js';
import { KubeApprovalService } from '../../src/approvals/service.js';
import { installCrds } from '../../src/operator/crds.js';
import { maskingRedactor } from '../../src/approvals/redact.js';
import type { KubeClient } from '../../src/k8s/client.js';
import { createMaskerFactory } from '../../src/masking/index.js';
import { FileRecorder } from '../../src/recording/index.js';
import { SubjectAccessReviewChecker } from '../../src/operator/service-account-checker.js';
import { proxiedSigner } from '../../src/identity/proxied-token.js';
import { clientFor, eventually, kubectl, testEnv } from './env.js';
import { startTestProxy, type TestProxy } from './proxy.js';

export function defaultPolicy(): AgentPolicy {
  return yaml.load(readFileSync(new URL('../../examples/default-agent-policy.yaml', import.meta.url), 'utf8')) as AgentPolicy;
}

export interface ShippedProxy extends TestProxy {
  recordings: string;
  recorder: FileRecorder;
}

/** The agent proxy configured as `make up` runs it (default policy, masking and recording on). */
export async function startShippedProxy(opts: { approvalLabels?: Record<string, string> } = {}): Promise<ShippedProxy> {
  const recordings = mkdtempSync(join(tmpdir(), 'airlock-shipped-rec-'));
  const recorder = new FileRecorder({ dir: recordings, fsync: 'always', housekeepingMs: 0 });
  await installCrds(await clientFor('admin'));
  const airlock = await clientFor('airlock');
  const key = randomBytes(32);
  const masker = createMaskerFactory({ key, markers: 'unlinkable' });
  const approvals = new KubeApprovalService({ client: airlock, redact: maskingRedactor(createMaskerFactory({ key })), ...(opts.approvalLabels ? { labels: opts.approvalLabels } : {}) });
  const proxy = await startTestProxy({
    policies: [defaultPolicy()],
    masker,
    recorder,
    approvals,
    serviceAccounts: new SubjectAccessReviewChecker({ client: airlock }),
    proxiedSigner: proxiedSigner(randomBytes(32)),
  });
  return {
    ...proxy,
    recordings,
    recorder,
    close: async () => {
      await proxy.close();
      await recorder.close();
      rmSync(recordings, { recursive: true, force: true });
    },
  };
}

/** A random value no detector would recognise by its shape: only knowing it lets masking hide it. */
export function canaryValue(tag: string): string {
  return `cnry${tag}${randomBytes(10).toString('hex')}`;
}

export interface Canaries {
  namespace: string;
  /** Every planted secret value. */
  values: string[];
  /** Named values, for targeted assertions. */
  byName: Record<string, string>;
}

const CRD_GROUP = 'canary.airlock-test.dev';
export const WIDGETS = `/apis/${CRD_GROUP}/v1/namespaces`;

/** A CRD whose objects carry credentials in spec, shown in printer columns (one of them innocently named). */
async function ensureWidgetCrd(admin: KubeClient): Promise<void> {
  const name = `widgets.${CRD_GROUP}`;
  await admin
    .create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group: CRD_GROUP,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
            additionalPrinterColumns: [
              { name: 'Password', type: 'string', jsonPath: '.spec.password' },
              { name: 'Data', type: 'string', jsonPath: '.spec.apiToken' },
            ],
          },
        ],
      },
    })
    .catch((err: unknown) => ((err as { status?: number }).status === 409 ? undefined : Promise.reject(err)));
  await eventually(async () => {
    const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  }, 20_000, 'widget CRD established');
}

/** Plants canaries in a fresh namespace (created by the admin, so it is not the agent's own). */
export async function plantCanaries(namespace: string, labels: Record<string, string> = {}): Promise<Canaries> {
  const admin = await clientFor('admin');
  const v: Record<string, string> = {};
  for (const k of ['secretPassword', 'secretToken', 'appliedSecret', 'kubeconfigKey', 'kubeconfigToken', 'configMapPassword', 'mysqlPwd', 'dbPass', 'apiToken', 'deployPassword', 'widgetPassword', 'widgetToken', 'logPassword', 'tektonToken']) {
    v[k] = canaryValue(k.slice(0, 3).toLowerCase());
  }
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels } });
  await eventually(async () => (await admin.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`).catch(() => undefined)) !== undefined, 20_000, 'default ServiceAccount');
  const ns = `/api/v1/namespaces/${namespace}`;
  await admin.create(`${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: v.secretPassword!, token: v.secretToken! } });
  const applied = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'applied', namespace }, data: { key: Buffer.from(v.appliedSecret!).toString('base64') } }),
  });
  if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://10.0.0.1"}}]',
    'users:',
    '- name: u',
    '  user:',
    `    client-key-data: ${Buffer.from(v.kubeconfigKey!).toString('base64')}`,
    `    token: ${v.kubeconfigToken}`,
    '',
  ].join('\n');
  await admin.create(`${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kubeconfig' }, data: { config: kubeconfig } });
  await admin.create(`${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { DB_PASSWORD: v.configMapPassword!, mode: 'fast' } });
  await admin.create(`${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'envpod' },
    spec: {
      nodeName: 'kwok-node',
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{ name: 'app', image: 'registry.example/app:1', env: [{ name: 'MYSQL_PWD', value: v.mysqlPwd }, { name: 'DB_PASS', value: v.dbPass }, { name: 'API_TOKEN', value: v.apiToken }] }],
    },
  });
  await admin.create(`/apis/apps/v1/namespaces/${namespace}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example/web:1', env: [{ name: 'DB_PASSWORD', value: v.deployPassword }] }] } },
    },
  });
  await ensureWidgetCrd(admin);
  await eventually(async () => {
    await admin.create(`${WIDGETS}/${namespace}/widgets`, {
      apiVersion: `${CRD_GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { password: v.widgetPassword, apiToken: v.widgetToken, steps: [{ name: 's', env: [{ name: 'GIT_TOKEN', value: v.tektonToken }] }] },
    });
    return true;
  }, 20_000, 'widget created');
  // The fake node serves every pod's log from one file: a line with a credential.
  appendFileSync(join(testEnv().dir, 'kwok', 'pod.log'), `connecting with password=${v.logPassword} to db\n`);
  return { namespace, values: Object.values(v), byName: v };
}

/** Every form in which a canary could leak: plain, base64 (any alignment, std or url), hex, a long substring. */
function leakForms(value: string): string[] {
  const forms = new Set<string>([value, value.slice(4, 20), Buffer.from(value).toString('hex')]);
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.from('x'.repeat(shift) + value).toString('base64');
    // Drop the characters that depend on what surrounds the value.
    const core = b64.slice(Math.ceil((shift * 4) / 3) + 1, -4);
    forms.add(core);
    forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms].filter((f) => f.length >= 8);
}

/** The first canary found in the bytes (also inside gzip), with the form it took, or undefined. */
export function findCanary(data: string | Buffer, canaries: readonly string[]): string | undefined {
  let buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch { /* not gzip after all */ }
  }
  const text = buf.toString('latin1');
  for (const c of canaries) for (const form of leakForms(c)) if (text.includes(form)) return `${c} (as ${form === c ? 'plain' : form})`;
  return undefined;
}

/** Canaries found in any file of a recording directory. */
export function canariesInRecordings(dir: string, canaries: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const hit = findCanary(readFileSync(p), canaries);
        if (hit) found.push(`${p}: ${hit}`);
      }
    }
  };
  walk(dir);
  return found;
}

/** Signs an Approval off as an approver (a status write, as `kubectl approve` makes it). */
export async function approveAs(user: 'alice' | 'bob', name: string): Promise<void> {
  const c = await clientFor(user);
  const path = `/apis/airlock.dev/v1alpha1/approvals/${name}`;
  const a = await c.get<{ status?: Record<string, unknown> }>(path);
  a.status = { ...a.status, phase: 'Approved', decisions: [{ decision: 'approve', by: user, at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }], usesConsumed: 0 };
  await c.replace(`${path}/status`, a);
}

/** The value hack/cluster.sh puts into every kwok exec's environment, as a pod's env would carry it. */
export const EXEC_ENV_CANARY = 'cnryexecenv5c1f0e9a7d3b2468';

/**
 * A fresh namespace (created by the admin) with a pod on kwok's fake node that uses Secret `db`
 * (EXEC_ENV_CANARY, as env DB_PASSWORD), Secret `files` (fileValue, mounted at /etc/secret-volume) and
 * ConfigMap `app` (a config file holding configValue as its password, mounted at /app/config). Resolves
 * once the pod runs.
 */
export async function plantExecTarget(namespace: string, pod: string, v: { fileValue: string; configValue: string }): Promise<void> {
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const base = `/api/v1/namespaces/${namespace}`;
  await admin.create(`${base}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: EXEC_ENV_CANARY } });
  await admin.create(`${base}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'files' }, stringData: { password: v.fileValue } });
  await admin.create(`${base}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { 'app.yaml': `mode: fast\ndatabase:\n  password: ${v.configValue}\n` } });
  await admin.create(`${base}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod },
    spec: {
      nodeName: 'kwok-node',
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{
        name: 'app',
        image: 'registry.example/app:1',
        env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
        volumeMounts: [{ name: 'files', mountPath: '/etc/secret-volume' }, { name: 'config', mountPath: '/app/config' }],
      }],
      volumes: [{ name: 'files', secret: { secretName: 'files' } }, { name: 'config', configMap: { name: 'app' } }],
    },
  });
  await eventually(async () => (await admin.get<{ status: { phase?: string } }>(`${base}/pods/${pod}`)).status.phase === 'Running', 20_000, 'kwok pod Running');
}
