import { describe, expect, it } from '@jest/globals';
import type { Approval } from '../../../src/api/types.js';
import { describe as describeApproval, listRows, parseArgs, table } from '../../../src/cli/approve.js';
import { approvalName, summarise } from '../../../src/approvals/render.js';
import { parseDuration } from '../../../src/approvals/duration.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const a: Approval = {
  apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'deployments-web-0123456789', creationTimestamp: '2026-06-01T11:55:00Z' },
  spec: {
    request: { user: 'agent-ci', verb: 'update', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'webhook', fingerprint: '0123456789'.repeat(6) + 'abcd', summary: 'agent-ci update deployments prod/web', diff: '--- a\n+++ b\n@@ -1 +1 @@\n-replicas: 1\n+replicas: 3\n' },
    policy: { name: 'prod', rule: 'deployments', message: 'needs a human' }, approvers: { groups: ['approvers'] }, required: 2, uses: 1, expiresAt: '2026-06-01T13:00:00Z',
  },
  status: { phase: 'Pending', decisions: [{ decision: 'approve', by: 'alice', at: '2026-06-01T11:58:00Z', comment: 'ok' }] },
};

describe('kubectl approve helpers', () => {
  it('parses flags like kubectl', () => {
    const p = parseArgs(['deny', 'x', '--reason=no way', '--kubeconfig', '/k', '-A']);
    expect(p.positional).toEqual(['deny', 'x']);
    expect(p.flags.get('reason')).toBe('no way');
    expect(p.flags.get('kubeconfig')).toBe('/k');
    expect(p.flags.get('A')).toBe(true);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown flag/);
    expect(() => parseArgs(['--comment'])).toThrow(/needs an argument/);
  });

  it('prints a kubectl-style table', () => {
    const out = table(listRows([a], NOW, { wide: true }));
    const [head, row] = out.trimEnd().split('\n');
    expect(head).toMatch(/^NAME\s+AGE\s+REQUESTER\s+VERB\s+RESOURCE\s+NAMESPACE\/NAME\s+POLICY\s+EXPIRES\s+APPROVALS\s+SUMMARY$/);
    expect(row).toMatch(/^deployments-web-0123456789\s+5m\s+agent-ci\s+update\s+deployments\s+prod\/web\s+prod\/deployments\s+in 60m\s+1\/2\s+agent-ci update/);
  });

  it('describes an Approval with request, reason, decisions and diff', () => {
    const text = describeApproval(a, NOW);
    expect(text).toContain('Reason:       needs a human');
    expect(text).toContain('Required:     1/2 approvals');
    expect(text).toContain('approve  alice  "ok"');
    expect(text).toContain('  +replicas: 3');
  });

  it('shows the options and the objects a deletecollection deletes', () => {
    const names = Array.from({ length: 100 }, (_, i) => `cm-${i}`);
    const c: Approval = { ...a, spec: { ...a.spec, request: { ...a.spec.request, verb: 'deletecollection', options: { labelSelector: 'app=temp', propagationPolicy: 'Foreground' }, collection: { count: 120, names } } } };
    const text = describeApproval(c, NOW);
    expect(text).toContain('Options:\n  labelSelector=app=temp\n  propagationPolicy=Foreground\n');
    expect(text).toContain('Deletes:      120 objects\n  cm-0\n');
    expect(text).toContain('  ... and 20 more\n');
  });

  it('shows a held exec: the argv word by word (quoted, control characters escaped) and its target', () => {
    const e: Approval = { ...a, spec: { ...a.spec, request: { ...a.spec.request, verb: 'create', apiVersion: 'v1', apiGroup: '', resource: 'pods', subresource: 'exec', name: 'app', exec: {
      command: ['sh', '-c', "echo 'hi' $X", 'a\u001b[2Kb'], interactive: true, pod: 'app', podUID: '0f6c4b1e-1111-2222-3333-444455556666', container: 'app', image: 'registry.example/app:1', serviceAccount: 'builder',
    } } } };
    const text = describeApproval(e, NOW);
    expect(text).toContain(`Command:      sh -c 'echo '\\''hi'\\'' $X' $'a\\u001b[2Kb'`);
    expect(text).toContain('Interactive:  yes (stdin or a terminal)');
    expect(text).toContain('Pod:          app (uid 0f6c4b1e-1111-2222-3333-444455556666)');
    expect(text).toContain('Container:    app image registry.example/app:1');
    expect(text).toContain('Runs as:      ServiceAccount builder');
    expect(text).not.toContain('\u001b');
  });

  it('names Approvals deterministically and summarises requests', () => {
    expect(approvalName({ resource: 'deployments', name: 'Web_App.v2' }, 'abcdef0123456789')).toBe('deployments-web-app-v2-abcdef0123');
    expect(approvalName({ resource: 'pods', subresource: 'exec', name: undefined }, 'abcdef0123456789', 2)).toBe('pods-exec-new-abcdef0123-2');
    expect(summarise({ user: { username: 'u', groups: [] }, verb: 'delete', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'secrets', namespace: 'n', name: 's', via: 'webhook' })).toBe('u delete secrets n/s (v1) via webhook');
    expect(parseDuration('1h30m')).toBe(5400e3);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('10 minutes')).toThrow(/invalid duration/);
  });
});
