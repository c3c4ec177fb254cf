// The installation key that signs the proxy's per-request airlock.dev/proxied tokens (see
// src/identity/proxied-token.ts): 32 random bytes in a Secret in the operator namespace, created once by
// whichever replica gets there first and read by every replica (a proxy on one replica signs, the webhook
// on another verifies).
//
// Older releases kept a static marker in Secret airlock-internal (key proxy-marker) and sent it verbatim
// on every request, so it is known to every agent (kubectl auth whoami) and sits in audit logs and
// recordings. It is deliberately NOT reused as key material: a key derived from a disclosed value would
// let anyone who saw it sign tokens. The new key lives in its own Secret, which needs only create + get.
import type { KubeClient } from '../k8s/client.js';
import { MIN_KEY_BYTES } from '../identity/proxied-token.js';
import { ensureKeySecret } from './key-secret.js';

export { PROXIED_EXTRA_KEY } from '../identity/proxied-token.js';
export const PROXIED_KEY_SECRET = 'airlock-proxied-key';
const DATA_KEY = 'hmac-sha256-key';

export function ensureProxiedKey(client: KubeClient, namespace: string): Promise<Buffer> {
  return ensureKeySecret(client, namespace, PROXIED_KEY_SECRET, DATA_KEY, MIN_KEY_BYTES);
}
