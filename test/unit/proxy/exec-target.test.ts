// What the proxy learns about an exec's target container from its pod spec.
import { describe, expect, it } from '@jest/globals';
import { execTargetOf } from '../../../src/proxy/exec-target.js';

const pod = (mounts: { name: string; mountPath: string }[], extra: Record<string, unknown> = {}) => ({
  metadata: { name: 'app', uid: 'u-1', annotations: { 'kubectl.kubernetes.io/default-container': 'side' } },
  spec: {
    serviceAccountName: 'builder',
    containers: [
      { name: 'app', image: 'registry.example/app:1', workingDir: '/srv', volumeMounts: mounts },
      { name: 'side', image: 'registry.example/side:1' },
    ],
    volumes: [
      { name: 'creds', secret: { secretName: 'db' } },
      { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
      { name: 'store', csi: { driver: 'secrets-store.csi.k8s.io' } },
      { name: 'config', configMap: { name: 'app' } },
    ],
    ...extra,
  },
});

describe('execTargetOf', () => {
  it('finds credential mounts by every name the container knows them by', () => {
    const t = execTargetOf(pod([
      { name: 'creds', mountPath: '/var/run/db-creds' },
      { name: 'token', mountPath: 'etc/relative-token' },
      { name: 'store', mountPath: '/mnt/store' },
      { name: 'config', mountPath: '/app/config' },
    ]), 'app')!;
    expect(t.credentialPaths).toEqual(expect.arrayContaining(['/var/run/db-creds', '/run/db-creds', '/etc/relative-token', '/mnt/store', '/var/run/secrets/kubernetes.io/serviceaccount', '/run/secrets/kubernetes.io/serviceaccount']));
    expect(t.credentialPaths).not.toContain('/app/config');
    expect(t).toMatchObject({ pod: 'app', podUID: 'u-1', container: 'app', image: 'registry.example/app:1', serviceAccount: 'builder', workingDir: '/srv' });
  });

  it('takes the default-container annotation when no container is named, and refuses an unknown one', () => {
    expect(execTargetOf(pod([]), undefined)!.container).toBe('side');
    expect(execTargetOf(pod([]), 'nope')).toBeUndefined();
  });

  it('leaves out the ServiceAccount token directory when the pod does not mount it', () => {
    expect(execTargetOf(pod([], { automountServiceAccountToken: false }), 'app')!.credentialPaths).toEqual([]);
  });
});
