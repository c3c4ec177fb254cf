// The client's own credentials stay current: a kubeconfig tokenFile (as a projected ServiceAccount token is
// in-cluster) is re-read when it changes, and an exec plugin is run again once its credential expires.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CredentialSource, kubeconfigTokenFile } from '../../../src/k8s/credentials.js';
import { KubeClient } from '../../../src/k8s/client.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-creds-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, user: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  }));
  return path;
}

/** Replaces a file the way kubelet updates a projected token: write beside it, rename over it. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

describe('credentials', () => {
  it('finds the tokenFile of the current user, relative to the kubeconfig that names it', () => {
    const path = kubeconfig('relative.kubeconfig', { tokenFile: 'tokens/agent' });
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    expect(kubeconfigTokenFile(kc, path, {})).toBe(join(dir, 'tokens/agent'));
    // The default loading rules: KUBECONFIG lists files.
    expect(kubeconfigTokenFile(kc, undefined, { KUBECONFIG: `${join(dir, 'missing')}:${path}` })).toBe(join(dir, 'tokens/agent'));
  });

  it('a rotated token file is used from the next request on, without a restart', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first-token\n');
    const client = await KubeClient.load(kubeconfig('file.kubeconfig', { tokenFile }));
    try {
      expect(client.credentials().Authorization).toBe('Bearer first-token');
      replaceFile(tokenFile, 'second-token\n');
      // Checked at most once a second on the request path; a refresh (as after a 401) reads it at once.
      await client.credentialSource.refresh();
      expect(client.credentials().Authorization).toBe('Bearer second-token');
    } finally {
      client.close();
    }
  });

  it('the hot path notices a changed token file within a second (a stat, no read while unchanged)', async () => {
    const tokenFile = join(dir, 'hot-token');
    writeFileSync(tokenFile, 'one');
    let now = 1_000_000;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig('hot.kubeconfig', { tokenFile }));
    const source = new CredentialSource(kc, { tokenFile, refreshMs: 3_600_000, now: () => now });
    await source.refresh();
    expect(source.current().headers.Authorization).toBe('Bearer one');
    replaceFile(tokenFile, 'two');
    now += 500;
    expect(source.current().headers.Authorization).toBe('Bearer one');
    now += 600;
    expect(source.current().headers.Authorization).toBe('Bearer two');
  });

  it('an exec plugin runs again once its credential has expired', async () => {
    const counter = join(dir, 'exec-count');
    writeFileSync(counter, '0');
    const plugin = join(dir, 'plugin.sh');
    // Each run hands out a new token that expires at once (so the next refresh must run the plugin again).
    writeFileSync(plugin, `#!/bin/sh
n=$(($(cat ${counter}) + 1)); echo $n > ${counter}
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}' $n
`);
    chmodSync(plugin, 0o755);
    const client = await KubeClient.load(kubeconfig('exec.kubeconfig', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } }));
    try {
      expect(client.credentials().Authorization).toBe('Bearer exec-1');
      await client.credentialSource.refresh();
      expect(client.credentials().Authorization).toBe('Bearer exec-2');
    } finally {
      client.close();
    }
  });
});
