// The pod an exec or attach goes to, and the secret values its output could carry.
//
// - The pod is read as the agent (an agent that may not read it learns nothing it could not learn by
//   asking the API server itself), before judging: credential mount paths, working directory, image and
//   ServiceAccount are policy input and Approval detail.
// - The values are read with the proxy's own identity after the exec is allowed: every value of every
//   Secret the pod uses (env, envFrom, volumes, projected volumes), the protected values of the
//   ConfigMaps it uses (credential keys, credentials inside config files, values of credential-named env
//   vars), and the pod spec's own credential env values. The output masker replaces all of them.
// - Fail closed: a Secret that exists but cannot be read means the output cannot be masked, so the exec
//   is refused. A missing one (optional reference) holds nothing.
import type { ResolvedMasking } from '../policy/types.js';
import type { ExecTarget } from '../policy/types.js';
import { envNameIsSecret, protectedValuesOf } from '../masking/index.js';
import type { ProbeContext } from './dryrun.js';
import type { RequestInfo } from './request-info.js';
import { isObj } from './context.js';
import { kubeStatus, type KubeStatus } from './status.js';
import type { JsonResponse, Upstream } from './upstream.js';

type Obj = Record<string, unknown>;

/** Most Secrets and ConfigMaps read for one exec, and most bytes of values kept (bounded memory). */
const MAX_REFERENCED_OBJECTS = 64;
const MAX_VALUE_BYTES = 512 * 1024;
const READ_BYTES = 4 * 1024 * 1024;

/** Where Kubernetes mounts a pod's ServiceAccount token unless told otherwise. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export type PodRead = { pod: Obj; target: ExecTarget } | { failed: JsonResponse } | { refuse: KubeStatus };

/** Reads the target pod as the agent and works out the container the request goes to. */
export async function readExecPod(probe: ProbeContext, info: RequestInfo, container: string | undefined): Promise<PodRead> {
  const path = `/api/v1/namespaces/${encodeURIComponent(info.namespace ?? '')}/pods/${encodeURIComponent(info.name ?? '')}`;
  const res = await probe.up.json('GET', path, probe.identity, undefined, { maxBytes: READ_BYTES, endBy: probe.endBy });
  if (res.status !== 200 || !isObj(res.body)) return { failed: res };
  const pod = res.body;
  const target = execTargetOf(pod, container);
  if (!target) return { refuse: kubeStatus(400, `container ${JSON.stringify(container ?? '')} is not valid for pod ${info.name}`, 'BadRequest') };
  return { pod, target };
}

/** The container's place in the pod (container as asked, else the default-container annotation, else the first). */
export function execTargetOf(pod: Obj, container: string | undefined): ExecTarget | undefined {
  const meta = isObj(pod.metadata) ? pod.metadata : {};
  const spec = isObj(pod.spec) ? pod.spec : {};
  const all = [...arr(spec.containers), ...arr(spec.initContainers), ...arr(spec.ephemeralContainers)];
  const annotations = isObj(meta.annotations) ? meta.annotations : {};
  const wanted = container ?? str(annotations['kubectl.kubernetes.io/default-container']);
  const c = wanted ? all.find((x) => x.name === wanted) : arr(spec.containers)[0];
  if (!c || typeof c.name !== 'string') return undefined;
  const volumes = new Map(arr(spec.volumes).map((v) => [String(v.name), v]));
  const credentialPaths: string[] = [];
  for (const m of arr(c.volumeMounts)) {
    const v = volumes.get(String(m.name));
    const at = str(m.mountPath);
    if (v && at && holdsCredentials(v)) credentialPaths.push(...mountAliases(at));
  }
  if (spec.automountServiceAccountToken !== false) credentialPaths.push(...mountAliases(SERVICE_ACCOUNT_DIR));
  return {
    pod: String(meta.name ?? ''),
    ...(str(meta.uid) ? { podUID: str(meta.uid)! } : {}),
    container: c.name,
    ...(str(c.image) ? { image: str(c.image)! } : {}),
    serviceAccount: str(spec.serviceAccountName) ?? 'default',
    credentialPaths: [...new Set(credentialPaths)],
    ...(str(c.workingDir) ? { workingDir: str(c.workingDir)! } : {}),
  };
}

/**
 * Every name a mount path has in the container: the runtime joins a relative mountPath to the root, and
 * /var/run is /run in most images (so is /var/lock /run/lock).
 */
function mountAliases(mountPath: string): string[] {
  const abs = mountPath.startsWith('/') ? mountPath : `/${mountPath}`;
  const out = [abs];
  for (const [a, b] of [['/var/run/', '/run/'], ['/var/lock/', '/run/lock/']] as const) {
    if (abs.startsWith(a)) out.push(b + abs.slice(a.length));
    else if (abs.startsWith(b)) out.push(a + abs.slice(b.length));
  }
  return out;
}

/** Secret volumes, projected volumes with Secrets or ServiceAccount tokens, and CSI volumes (secret stores). */
function holdsCredentials(v: Obj): boolean {
  if (isObj(v.secret) || isObj(v.csi)) return true;
  const projected = isObj(v.projected) ? v.projected : undefined;
  return !!projected && arr(projected.sources).some((s) => isObj(s.secret) || isObj(s.serviceAccountToken) || isObj(s.clusterTrustBundle) || isObj(s.podCertificate));
}

interface References {
  secrets: Set<string>;
  configMaps: Set<string>;
  /** ConfigMap keys that land in credential-named env vars: name -> keys. */
  credentialKeys: Map<string, Set<string>>;
}

function referencesOf(pod: Obj, isCredentialEnv: (name: string) => boolean): References {
  const spec = isObj(pod.spec) ? pod.spec : {};
  const refs: References = { secrets: new Set(), configMaps: new Set(), credentialKeys: new Map() };
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers), ...arr(spec.ephemeralContainers)]) {
    for (const e of arr(c.env)) {
      const from = isObj(e.valueFrom) ? e.valueFrom : {};
      const s = isObj(from.secretKeyRef) ? str(from.secretKeyRef.name) : undefined;
      if (s) refs.secrets.add(s);
      const cm = isObj(from.configMapKeyRef) ? from.configMapKeyRef : undefined;
      const cmName = cm ? str(cm.name) : undefined;
      if (cm && cmName) {
        refs.configMaps.add(cmName);
        const key = str(cm.key);
        if (key && typeof e.name === 'string' && isCredentialEnv(e.name)) {
          if (!refs.credentialKeys.has(cmName)) refs.credentialKeys.set(cmName, new Set());
          refs.credentialKeys.get(cmName)!.add(key);
        }
      }
    }
    for (const f of arr(c.envFrom)) {
      const s = isObj(f.secretRef) ? str(f.secretRef.name) : undefined;
      if (s) refs.secrets.add(s);
      const cm = isObj(f.configMapRef) ? str(f.configMapRef.name) : undefined;
      if (cm) refs.configMaps.add(cm);
    }
  }
  for (const v of arr(spec.volumes)) {
    const s = isObj(v.secret) ? str(v.secret.secretName) : undefined;
    if (s) refs.secrets.add(s);
    const cm = isObj(v.configMap) ? str(v.configMap.name) : undefined;
    if (cm) refs.configMaps.add(cm);
    const projected = isObj(v.projected) ? v.projected : undefined;
    for (const src of arr(projected?.sources)) {
      const ps = isObj(src.secret) ? str(src.secret.name) : undefined;
      if (ps) refs.secrets.add(ps);
      const pc = isObj(src.configMap) ? str(src.configMap.name) : undefined;
      if (pc) refs.configMaps.add(pc);
    }
  }
  return refs;
}

/** Text values, and as bytes the values that are not UTF-8 (keystores). */
export type TargetValues = { values: (string | Buffer)[] } | { refuse: KubeStatus };

/** The secret values the pod's containers can see, read with the proxy's own identity. */
export async function readTargetValues(up: Upstream, pod: Obj, rules: ResolvedMasking, endBy: number | undefined): Promise<TargetValues> {
  const meta = isObj(pod.metadata) ? pod.metadata : {};
  const ns = String(meta.namespace ?? '');
  const podName = String(meta.name ?? '');
  const refs = referencesOf(pod, (name) => envNameIsSecret(name, rules.envNamePatterns));
  if (refs.secrets.size + refs.configMaps.size > MAX_REFERENCED_OBJECTS) {
    return { refuse: kubeStatus(403, `airlock: pod ${podName} uses more than ${MAX_REFERENCED_OBJECTS} Secrets and ConfigMaps; its output cannot be masked, so exec and attach are refused`, 'Forbidden') };
  }
  const values = new Set<string>(protectedValuesOf(pod, rules, { kindHint: 'Pod' }));
  const binary: Buffer[] = [];
  const read = async (resource: 'secrets' | 'configmaps', name: string): Promise<{ obj?: Obj; refuse?: KubeStatus }> => {
    const res = await up.json('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/${resource}/${encodeURIComponent(name)}`, null, undefined, { maxBytes: READ_BYTES, endBy });
    if (res.status === 404) return {};
    if (res.status === 200 && isObj(res.body)) return { obj: res.body };
    const kind = resource === 'secrets' ? 'Secret' : 'ConfigMap';
    return { refuse: kubeStatus(403, `airlock: cannot read ${kind} ${ns}/${name} that pod ${podName} uses (HTTP ${res.status}), so its output could not be masked; nothing was forwarded`, 'Forbidden') };
  };
  const reads = await Promise.all([
    ...[...refs.secrets].map(async (n) => ({ kind: 'Secret' as const, name: n, ...(await read('secrets', n)) })),
    ...[...refs.configMaps].map(async (n) => ({ kind: 'ConfigMap' as const, name: n, ...(await read('configmaps', n)) })),
  ]);
  for (const r of reads) {
    if (r.refuse) return { refuse: r.refuse };
    if (!r.obj) continue;
    if (r.kind === 'Secret') {
      for (const v of Object.values(isObj(r.obj.data) ? r.obj.data : {})) {
        if (typeof v !== 'string') continue;
        const bytes = Buffer.from(v, 'base64');
        const text = bytes.toString('utf8');
        // Bytes that are not UTF-8 (keystores) are searched for as bytes.
        if (Buffer.from(text, 'utf8').equals(bytes)) values.add(text);
        else binary.push(bytes);
      }
    } else {
      for (const v of protectedValuesOf(r.obj, { ...rules, configMaps: true }, { kindHint: 'ConfigMap' })) values.add(v);
      const data = isObj(r.obj.data) ? r.obj.data : {};
      for (const k of refs.credentialKeys.get(r.name) ?? []) if (typeof data[k] === 'string') values.add(data[k]);
    }
  }
  let bytes = 0;
  for (const v of values) bytes += v.length;
  for (const b of binary) bytes += b.length;
  if (bytes > MAX_VALUE_BYTES) {
    return { refuse: kubeStatus(403, `airlock: the Secrets and ConfigMaps pod ${podName} uses hold more than ${MAX_VALUE_BYTES >> 10} KiB of values; its output cannot be masked, so exec and attach are refused`, 'Forbidden') };
  }
  return { values: [...values, ...binary] };
}
