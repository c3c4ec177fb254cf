// Detectors on specific object kinds: scale to zero, exposed Services, externalIPs, host-path PVs.
import type { Detector } from './types.js';
import { arr, hit, isWrite, objectsOf, rec, str } from './util.js';

const SCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'ReplicationController', 'Scale']);
const SCALABLE_RESOURCES = new Set(['deployments', 'replicasets', 'statefulsets', 'replicationcontrollers']);

export const scaleToZero: Detector = (req) => {
  if (!isWrite(req)) return [];
  const out = [];
  for (const { obj, path, kind } of objectsOf(req)) {
    const scaleSub = req.subresource === 'scale';
    const known = SCALABLE.has(kind) || scaleSub || (kind === '' && SCALABLE_RESOURCES.has(req.resource));
    if (!known) continue;
    // autoscaling/v1 Scale declares spec.replicas as a plain int32 with omitempty: the API server (a dry-run
    // result, an AdmissionReview) sends a Scale at zero replicas as "spec": {} — missing means 0 there.
    const isScale = scaleSub || kind === 'Scale';
    const replicas = rec(obj.spec)?.replicas ?? (isScale ? 0 : undefined);
    if (replicas === 0) {
      const was = rec(rec(req.oldObject)?.spec)?.replicas;
      out.push(hit('scaleToZero', path ? `${path}.spec.replicas` : 'spec.replicas', `scales ${kind || req.resource} to 0 replicas${typeof was === 'number' ? ` (from ${was})` : ''}`));
    }
  }
  return out;
};

const services = (req: Parameters<Detector>[0]) =>
  isWrite(req) ? objectsOf(req).filter((o) => o.kind === 'Service' || (o.kind === '' && req.resource === 'services' && !req.subresource)) : [];

export const externalIPs: Detector = (req) =>
  services(req).flatMap(({ obj, path }) => {
    const ips = arr(rec(obj.spec)?.externalIPs);
    return ips.length ? [hit('externalIPs', path ? `${path}.spec.externalIPs` : 'spec.externalIPs', `sets externalIPs ${ips.join(', ')} (can intercept traffic, CVE-2020-8554)`)] : [];
  });

export const exposedService: Detector = (req, s) =>
  services(req).flatMap(({ obj, path }) => {
    const spec = rec(obj.spec);
    const type = str(spec?.type);
    const p = path ? `${path}.spec` : 'spec';
    const out = [];
    if (type === 'LoadBalancer' || type === 'NodePort') out.push(hit('exposedService', `${p}.type`, `Service of type ${type} is reachable from outside the cluster`));
    out.push(...externalIPs(req, s).map((e) => ({ ...e, detector: 'exposedService' })).filter((e) => e.path.startsWith(p)));
    return out;
  });

export const persistentVolumeHostPath: Detector = (req) => {
  if (!isWrite(req)) return [];
  return objectsOf(req)
    .filter((o) => o.kind === 'PersistentVolume' || (o.kind === '' && req.resource === 'persistentvolumes'))
    .flatMap(({ obj, path }) => {
      const spec = rec(obj.spec);
      const p = path ? `${path}.spec` : 'spec';
      const out = [];
      if (rec(spec?.hostPath)) out.push(hit('persistentVolumeHostPath', `${p}.hostPath`, `PersistentVolume on host path ${JSON.stringify(str(rec(spec?.hostPath)?.path) ?? '')}`));
      if (rec(spec?.local)) out.push(hit('persistentVolumeHostPath', `${p}.local`, `PersistentVolume on local node path ${JSON.stringify(str(rec(spec?.local)?.path) ?? '')}`));
      return out;
    });
};

const SNIPPET = /^(?:nginx\.ingress\.kubernetes\.io|ingress\.kubernetes\.io)\/[a-z-]*snippets?$/;
/** ingressSnippet: ingress-nginx snippet annotations inject raw NGINX config (CVE-2021-25742, CVE-2025-1974 family). */
export const ingressSnippet: Detector = (req) => {
  if (!isWrite(req)) return [];
  return objectsOf(req)
    .filter((o) => o.kind === 'Ingress' || (o.kind === '' && req.resource === 'ingresses'))
    .flatMap(({ obj, path }) => Object.keys(rec(rec(obj.metadata)?.annotations) ?? {})
      .filter((k) => SNIPPET.test(k))
      .map((k) => hit('ingressSnippet', `${path ? `${path}.` : ''}metadata.annotations["${k}"]`, `annotation ${k} injects raw proxy configuration`)));
};

/** ownerReferences as comparable keys (uid, else kind/name). */
const ownerKeys = (obj: unknown): Set<string> =>
  new Set(arr(rec(rec(obj)?.metadata)?.ownerReferences).map((o) => str(rec(o)?.uid) ?? `${str(rec(o)?.kind) ?? ''}/${str(rec(o)?.name) ?? ''}`));

/**
 * An update that gives an existing object owners it did not have: the garbage collector deletes an object
 * once its owners are gone, so pointing it at a missing (or soon deleted) owner is a delete by other means.
 * Removing owners (orphaning) does not fire.
 */
export const ownerReferenceChange: Detector = (req) => {
  if (!req.isResourceRequest || (req.verb !== 'update' && req.verb !== 'patch') || !req.oldObject || !req.object) return [];
  const before = ownerKeys(req.oldObject);
  const added = [...ownerKeys(req.object)].filter((k) => !before.has(k));
  if (added.length === 0) return [];
  const name = str(rec(rec(req.object)?.metadata)?.name) ?? req.name ?? '';
  return [hit('ownerReferenceChange', 'metadata.ownerReferences', `gives ${req.resource} ${name} new owners (${added.length}); the garbage collector deletes it once they are gone`)];
};
