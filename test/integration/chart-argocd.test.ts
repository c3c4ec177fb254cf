// The Argo CD health checks (deploy/argocd/health/*.lua) run with gopher-lua, the Lua VM Argo CD embeds,
// against AgentPolicies and Approvals as the real API server returns them through their lifecycle.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { clientFor, run, uniqueName } from '../helpers/env.js';
import { installCrds } from '../../src/operator/crds.js';

const ARGO = resolve(process.cwd(), 'deploy/argocd');
const POLICIES = '/apis/airlock.dev/v1alpha1/agentpolicies';
const APPROVALS = '/apis/airlock.dev/v1alpha1/approvals';

interface Health { status?: string; message?: string; error?: string }
type Obj = { metadata: { name: string; generation: number; resourceVersion: string }; [k: string]: any };

let bin: string;
let dir: string;
const created: string[] = [];

async function health(kind: 'AgentPolicy' | 'Approval', objs: unknown[]): Promise<Health[]> {
  const r = await run(bin, [join(ARGO, `health/airlock.dev_${kind}.lua`)], { input: JSON.stringify(objs) });
  if (r.code !== 0) throw new Error(`luacheck failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Health[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-argocd-'));
  bin = join(dir, 'luacheck');
  execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(ARGO, 'luacheck'), stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CGO_ENABLED: '0' } });
  await installCrds(await clientFor('admin'));
}, 300000);

afterAll(async () => {
  const admin = await clientFor('admin');
  for (const p of created) await admin.delete(p).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('Argo CD health checks', () => {
  it('argocd-cm-patch.yaml carries the Lua files unchanged', () => {
    const cm = yaml.load(readFileSync(join(ARGO, 'argocd-cm-patch.yaml'), 'utf8')) as { data: Record<string, string> };
    for (const kind of ['AgentPolicy', 'Approval']) {
      expect(cm.data[`resource.customizations.health.airlock.dev_${kind}`]).toBe(readFileSync(join(ARGO, `health/airlock.dev_${kind}.lua`), 'utf8'));
    }
  });

  it('AgentPolicy: Progressing until the current generation is evaluated, then Healthy or Degraded', async () => {
    const admin = await clientFor('admin');
    const name = uniqueName('argo');
    const path = `${POLICIES}/${name}`;
    const fresh = await admin.create<Obj>(POLICIES, {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name },
      spec: { agents: { users: ['agent-ci'] }, defaultAction: 'deny' },
    });
    created.push(path);
    const ready = (gen: number, status: 'True' | 'False', message: string) => ({
      observedGeneration: gen,
      conditions: [{ type: 'Ready', status, reason: status === 'True' ? 'Compiled' : 'Invalid', message, observedGeneration: gen, lastTransitionTime: '2026-01-01T00:00:00Z' }],
    });
    const healthy = await admin.replace<Obj>(`${path}/status`, { ...fresh, status: ready(fresh.metadata.generation, 'True', '0 rule(s) loaded') });
    const edited = await admin.patch<Obj>(path, { spec: { defaultAction: 'audit' } });
    expect(edited.metadata.generation).toBe(fresh.metadata.generation + 1);
    const broken = await admin.replace<Obj>(`${path}/status`, { ...edited, status: ready(edited.metadata.generation, 'False', 'rules[0].rego: entrypoint not found') });

    const [h0, h1, h2, h3] = await health('AgentPolicy', [fresh, healthy, edited, broken]);
    expect(h0).toEqual({ status: 'Progressing', message: 'Waiting for the Airlock operator to evaluate the policy' });
    expect(h1).toEqual({ status: 'Healthy', message: '0 rule(s) loaded' });
    expect(h2).toEqual({ status: 'Progressing', message: `Waiting for the Airlock operator to observe generation ${edited.metadata.generation}` });
    expect(h3).toEqual({ status: 'Degraded', message: 'Invalid: rules[0].rego: entrypoint not found' });
  });

  it('Approval: Pending is Progressing, Approved/Consumed Healthy, Denied/Expired Degraded', async () => {
    const admin = await clientFor('admin');
    const objs: Obj[] = [];
    for (const phase of [undefined, 'Pending', 'Approved', 'Consumed', 'Denied', 'Expired'] as const) {
      const name = uniqueName('argo-apr');
      const a = await admin.create<Obj>(APPROVALS, {
        apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name },
        spec: {
          request: { user: 'agent-ci', verb: 'delete', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'proxy', fingerprint: 'b'.repeat(64), summary: 'delete deployment prod/web' },
          policy: { name: 'p', rule: 'r' }, approvers: { groups: ['airlock:approvers'] }, required: 2, uses: 1, expiresAt: new Date(Date.now() + 3600e3).toISOString(),
        },
      });
      created.push(`${APPROVALS}/${name}`);
      if (!phase) { objs.push(a); continue; }
      const decisions = phase === 'Pending' ? [{ decision: 'approve', by: 'alice', at: new Date().toISOString() }] : [];
      objs.push(await admin.replace<Obj>(`${APPROVALS}/${name}/status`, { ...a, status: { phase, decisions, ...(phase === 'Expired' ? { message: 'not approved within 1h' } : {}) } }));
    }
    const h = await health('Approval', objs);
    expect(h).toEqual([
      { status: 'Progressing', message: 'Waiting for approval (0/2): delete deployment prod/web' },
      { status: 'Progressing', message: 'Waiting for approval (1/2): delete deployment prod/web' },
      { status: 'Healthy', message: 'Approved: delete deployment prod/web' },
      { status: 'Healthy', message: 'Consumed: delete deployment prod/web' },
      { status: 'Degraded', message: 'Denied: delete deployment prod/web' },
      { status: 'Degraded', message: 'Expired (not approved within 1h): delete deployment prod/web' },
    ]);
  });
});
