// The installation's masking key: the HMAC key of every marker (src/masking/marker.ts). Shared by all
// replicas and stable across restarts, so the same value reads as the same placeholder whichever replica
// answers, and a Helm release record read through one replica can be written back through another (its
// markers map back only under the key that made them). AIRLOCK_MASKING_KEY, when set, is used instead.
// Rotation: delete the Secret and restart every replica; placeholders change, nothing stored changes.
import type { KubeClient } from '../k8s/client.js';
import { ensureKeySecret } from './key-secret.js';

export const MASKING_KEY_SECRET = 'airlock-masking-key';
const DATA_KEY = 'hmac-sha256-key';
const MIN_KEY_BYTES = 16;

export function ensureMaskingKey(client: KubeClient, namespace: string): Promise<Buffer> {
  return ensureKeySecret(client, namespace, MASKING_KEY_SECRET, DATA_KEY, MIN_KEY_BYTES);
}
