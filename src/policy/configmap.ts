// Adapts any client with `get(path)` (e.g. src/k8s/client.ts KubeClient) into the Engine's loadConfigMap:
// reads a compiled Rego policy from a ConfigMap's binaryData (base64) or, failing that, data.
import type { ConfigMapLoader } from './rego.js';

export interface GetClient { get<T = unknown>(path: string): Promise<T> }

const MAX_WASM_BYTES = 8 * 1024 * 1024;
const DNS = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function configMapLoader(client: GetClient): ConfigMapLoader {
  return async (namespace, name, key) => {
    if (!DNS.test(namespace) || !DNS.test(name)) throw new Error(`invalid ConfigMap reference ${namespace}/${name}`);
    const cm = await client.get<{ binaryData?: Record<string, string>; data?: Record<string, string> }>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
    );
    const b64 = cm?.binaryData?.[key];
    const bytes = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : typeof cm?.data?.[key] === 'string' ? Buffer.from(cm.data[key]!, 'utf8') : undefined;
    if (!bytes) throw new Error(`key ${JSON.stringify(key)} not found in ConfigMap ${namespace}/${name}`);
    if (bytes.byteLength > MAX_WASM_BYTES) throw new Error(`key ${JSON.stringify(key)} of ConfigMap ${namespace}/${name} is larger than ${MAX_WASM_BYTES} bytes`);
    return new Uint8Array(bytes);
  };
}
