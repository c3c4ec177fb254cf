// The installation key that signs the proxy's per-request airlock.dev/proxied tokens (see
// src/identity/proxied-token.ts): 32 random bytes in a Secret in the operator namespace, created once by
// whichever replica gets there first and read by every replica (a proxy on one replica signs, the webhook
// on another verifies).
//
// Older releases kept a static marker in Secret airlock-internal (key proxy-marker) and sent it verbatim
// on every request, so it is known to every agent (kubectl auth whoami) and sits in audit logs and
// recordings. It is deliberately NOT reused as key material: a key derived from a disclosed value would
// let anyone who saw it sign tokens. The new key lives in its own Secret, which needs only create + get.
import { randomBytes } from 'node:crypto';
import { isAlreadyExists, isNotFound, type KubeClient } from '../k8s/client.js';
import { MIN_KEY_BYTES } from '../identity/proxied-token.js';

export { PROXIED_EXTRA_KEY } from '../identity/proxied-token.js';
export const PROXIED_KEY_SECRET = 'airlock-proxied-key';
const DATA_KEY = 'hmac-sha256-key';

export async function ensureProxiedKey(client: KubeClient, namespace: string): Promise<Buffer> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const s = await client.get<{ data?: Record<string, string> }>(`${path}/${PROXIED_KEY_SECRET}`);
      const key = Buffer.from(s.data?.[DATA_KEY] ?? '', 'base64');
      if (key.length >= MIN_KEY_BYTES) return key;
      throw new Error(`Secret ${namespace}/${PROXIED_KEY_SECRET} has no usable ${DATA_KEY} (need >= ${MIN_KEY_BYTES} bytes); delete it to generate a new key`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const key = randomBytes(32);
    try {
      await client.create(path, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: PROXIED_KEY_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'airlock' } },
        type: 'Opaque',
        data: { [DATA_KEY]: key.toString('base64') },
      });
      return key;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err; // another replica won: read its key
    }
  }
  throw new Error(`could not read or create Secret ${namespace}/${PROXIED_KEY_SECRET}`);
}
