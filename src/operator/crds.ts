// Installs or upgrades Airlock's CRDs with server-side apply and waits until they are Established.
import { CRDS, crdManifest } from '../api/schemas.js';
import type { KubeClient } from '../k8s/client.js';

export const FIELD_MANAGER = 'airlock-operator';

export async function installCrds(client: KubeClient, opts: { timeoutMs?: number } = {}): Promise<string[]> {
  const names: string[] = [];
  for (const def of CRDS) {
    const crd = crdManifest(def);
    const name = (crd.metadata as { name: string }).name;
    await client.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`, crd, FIELD_MANAGER);
    names.push(name);
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  for (const name of names) {
    for (;;) {
      const crd = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return names;
}
