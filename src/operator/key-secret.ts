// Installation keys: random bytes in a Secret in the operator namespace, created once by whichever replica
// gets there first and read by every replica (so all replicas, and one after a restart, agree). Reading
// needs get on that one Secret, creating needs create; nothing else about Secrets.
import { randomBytes } from 'node:crypto';
import { isAlreadyExists, isNotFound, type KubeClient } from '../k8s/client.js';

export async function ensureKeySecret(client: KubeClient, namespace: string, name: string, dataKey: string, minBytes: number): Promise<Buffer> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const s = await client.get<{ data?: Record<string, string> }>(`${path}/${name}`);
      const key = Buffer.from(s.data?.[dataKey] ?? '', 'base64');
      if (key.length >= minBytes) return key;
      throw new Error(`Secret ${namespace}/${name} has no usable ${dataKey} (need >= ${minBytes} bytes); delete it to generate a new key`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const key = randomBytes(32);
    try {
      await client.create(path, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'airlock' } },
        type: 'Opaque',
        data: { [dataKey]: key.toString('base64') },
      });
      return key;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err; // another replica won: read its key
    }
  }
  throw new Error(`could not read or create Secret ${namespace}/${name}`);
}
