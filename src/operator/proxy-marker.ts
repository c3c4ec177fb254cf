// The per-installation secret that marks requests forwarded by Airlock's proxy (as the user extra
// airlock.dev/proxied, sent with Impersonate-Extra-*), so the webhook does not judge them a second time.
// Stored in a Secret in the operator namespace; every replica reads the same value.
import { randomBytes } from 'node:crypto';
import { isAlreadyExists, isNotFound, type KubeClient } from '../k8s/client.js';

export const PROXIED_EXTRA_KEY = 'airlock.dev/proxied';
const SECRET = 'airlock-internal';
const KEY = 'proxy-marker';

export async function ensureProxyMarker(client: KubeClient, namespace: string): Promise<string> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const s = await client.get<{ data?: Record<string, string> }>(`${path}/${SECRET}`);
      const v = s.data?.[KEY];
      if (v) return Buffer.from(v, 'base64').toString('utf8');
      throw new Error(`Secret ${namespace}/${SECRET} has no ${KEY}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const value = randomBytes(32).toString('hex');
    try {
      await client.create(path, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'airlock' } },
        type: 'Opaque',
        data: { [KEY]: Buffer.from(value).toString('base64') },
      });
      return value;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err; // another replica won: read its value
    }
  }
  throw new Error(`could not read or create Secret ${namespace}/${SECRET}`);
}
