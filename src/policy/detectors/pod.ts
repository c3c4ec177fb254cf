// Detectors on pod specs (any workload kind): privilege, host namespaces and paths, capabilities, user,
// seccomp/AppArmor, secrets mounted into workloads, ephemeral containers.
import type { Explanation, RequestAttributes } from '../types.js';
import type { Detector } from './types.js';
import { arr, containersOf, eachContainer, hit, podSpecs, rec, str, strs } from './util.js';

export const privileged: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    if (rec(rec(ps.spec.securityContext)?.windowsOptions)?.hostProcess === true) {
      out.push(hit('privileged', `${ps.path}.securityContext.windowsOptions.hostProcess`, 'pod runs Windows HostProcess containers (privileged on the node)'));
    }
    for (const { c, path } of containersOf(ps)) {
      const sc = rec(c.securityContext);
      if (sc?.privileged === true) out.push(hit('privileged', `${path}.securityContext.privileged`, 'container runs privileged'));
      if (rec(sc?.windowsOptions)?.hostProcess === true) out.push(hit('privileged', `${path}.securityContext.windowsOptions.hostProcess`, 'container is a Windows HostProcess container (privileged on the node)'));
    }
  }
  return out;
};

/** gitRepo volumes run git on the node as root with attacker-controlled repositories (CVE-2024-10220). */
export const gitRepoVolume: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    arr(ps.spec.volumes).forEach((v, i) => {
      if (rec(rec(v)?.gitRepo)) out.push(hit('gitRepoVolume', `${ps.path}.volumes[${i}].gitRepo`, 'gitRepo volume runs git on the node (deprecated; CVE-2024-10220)'));
    });
  }
  return out;
};

/** SELinux types outside the Pod Security baseline (e.g. spc_t, unconfined_t) and custom SELinux users/roles. */
const BASELINE_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
export const seLinuxType: Detector = (req) => {
  const out: Explanation[] = [];
  const check = (opts: unknown, path: string): void => {
    const o = rec(opts);
    if (!o) return;
    const type = str(o.type);
    if (type !== undefined && !BASELINE_SELINUX_TYPES.has(type)) out.push(hit('seLinuxType', `${path}.type`, `SELinux type ${JSON.stringify(type)} escapes container confinement`));
    for (const f of ['user', 'role']) if (str(o[f])) out.push(hit('seLinuxType', `${path}.${f}`, `sets a custom SELinux ${f}`));
  };
  for (const ps of podSpecs(req)) {
    check(rec(ps.spec.securityContext)?.seLinuxOptions, `${ps.path}.securityContext.seLinuxOptions`);
    for (const { c, path } of containersOf(ps)) check(rec(c.securityContext)?.seLinuxOptions, `${path}.securityContext.seLinuxOptions`);
  }
  return out;
};

export const hostPath: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    arr(ps.spec.volumes).forEach((v, i) => {
      const hp = rec(rec(v)?.hostPath);
      if (hp) out.push(hit('hostPath', `${ps.path}.volumes[${i}].hostPath`, `mounts host path ${JSON.stringify(str(hp.path) ?? '')}`));
    });
  }
  return out;
};

const hostFlag = (field: 'hostNetwork' | 'hostPID' | 'hostIPC', what: string): Detector => (req) =>
  podSpecs(req).filter((ps) => ps.spec[field] === true).map((ps) => hit(field, `${ps.path}.${field}`, `pod shares the host's ${what}`));

export const hostNetwork = hostFlag('hostNetwork', 'network namespace');
export const hostPID = hostFlag('hostPID', 'process namespace');
export const hostIPC = hostFlag('hostIPC', 'IPC namespace');

export const hostPorts: Detector = (req) =>
  eachContainer(req, ({ c, path }) =>
    arr(c.ports).flatMap((p, i) => {
      const hp = rec(p)?.hostPort;
      return typeof hp === 'number' && hp !== 0 ? [hit('hostPorts', `${path}.ports[${i}].hostPort`, `binds host port ${hp}`)] : [];
    }));

export const BUILTIN_DANGEROUS_CAPABILITIES = [
  'ALL', 'SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE', 'SYS_MODULE', 'DAC_READ_SEARCH', 'SYS_RAWIO', 'SYS_BOOT', 'SYS_TIME',
  'SYS_RESOURCE', 'BPF', 'PERFMON', 'MAC_ADMIN', 'MAC_OVERRIDE', 'LINUX_IMMUTABLE', 'SYSLOG', 'NET_RAW', 'WAKE_ALARM',
  'BLOCK_SUSPEND', 'AUDIT_CONTROL', 'CHECKPOINT_RESTORE',
];
export const normCap = (c: string): string => c.trim().toUpperCase().replace(/^CAP_/, '');

export const dangerousCapabilities: Detector = (req, s) =>
  eachContainer(req, ({ c, path }) =>
    strs(rec(rec(c.securityContext)?.capabilities)?.add).flatMap((cap, i) =>
      s.dangerousCapabilities.has(normCap(cap)) ? [hit('dangerousCapabilities', `${path}.securityContext.capabilities.add[${i}]`, `adds capability ${normCap(cap)}`)] : []));

export const runAsRoot: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    const psc = rec(ps.spec.securityContext);
    for (const { c, path } of containersOf(ps)) {
      const sc = rec(c.securityContext);
      const uid = typeof sc?.runAsUser === 'number' ? sc.runAsUser : typeof psc?.runAsUser === 'number' ? psc.runAsUser : undefined;
      const uidPath = typeof sc?.runAsUser === 'number' ? `${path}.securityContext.runAsUser` : `${ps.path}.securityContext.runAsUser`;
      const nonRoot = typeof sc?.runAsNonRoot === 'boolean' ? sc.runAsNonRoot : psc?.runAsNonRoot;
      if (uid === 0) out.push(hit('runAsRoot', uidPath, 'container runs as UID 0'));
      else if (uid === undefined && nonRoot !== true) {
        const p = typeof sc?.runAsNonRoot === 'boolean' ? `${path}.securityContext.runAsNonRoot` : `${path}.securityContext`;
        out.push(hit('runAsRoot', p, nonRoot === false ? 'runAsNonRoot is false and no non-root runAsUser is set' : 'neither runAsNonRoot nor a non-root runAsUser is set (the image may run as root)'));
      }
    }
  }
  return out;
};

export const privilegeEscalation: Detector = (req) =>
  eachContainer(req, ({ c, path }) =>
    rec(c.securityContext)?.allowPrivilegeEscalation === true ? hit('privilegeEscalation', `${path}.securityContext.allowPrivilegeEscalation`, 'allows privilege escalation') : undefined);

export const procMount: Detector = (req) =>
  eachContainer(req, ({ c, path }) =>
    str(rec(c.securityContext)?.procMount) === 'Unmasked' ? hit('procMount', `${path}.securityContext.procMount`, 'mounts /proc unmasked') : undefined);

const annotations = (m: Record<string, unknown> | undefined): Record<string, unknown> => rec(m?.annotations) ?? {};

export const seccompUnconfined: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    if (str(rec(rec(ps.spec.securityContext)?.seccompProfile)?.type) === 'Unconfined') out.push(hit('seccompUnconfined', `${ps.path}.securityContext.seccompProfile.type`, 'pod runs seccomp unconfined'));
    for (const [k, v] of Object.entries(annotations(ps.meta))) {
      if ((k === 'seccomp.security.alpha.kubernetes.io/pod' || k.startsWith('container.seccomp.security.alpha.kubernetes.io/')) && v === 'unconfined') {
        out.push(hit('seccompUnconfined', `${ps.metaPath}.annotations["${k}"]`, 'seccomp unconfined by annotation'));
      }
    }
    for (const { c, path } of containersOf(ps)) {
      if (str(rec(rec(c.securityContext)?.seccompProfile)?.type) === 'Unconfined') out.push(hit('seccompUnconfined', `${path}.securityContext.seccompProfile.type`, 'container runs seccomp unconfined'));
    }
  }
  return out;
};

export const apparmorUnconfined: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    if (str(rec(rec(ps.spec.securityContext)?.appArmorProfile)?.type) === 'Unconfined') out.push(hit('apparmorUnconfined', `${ps.path}.securityContext.appArmorProfile.type`, 'pod runs AppArmor unconfined'));
    for (const [k, v] of Object.entries(annotations(ps.meta))) {
      if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v === 'unconfined') {
        out.push(hit('apparmorUnconfined', `${ps.metaPath}.annotations["${k}"]`, 'AppArmor unconfined by annotation'));
      }
    }
    for (const { c, path } of containersOf(ps)) {
      if (str(rec(rec(c.securityContext)?.appArmorProfile)?.type) === 'Unconfined') out.push(hit('apparmorUnconfined', `${path}.securityContext.appArmorProfile.type`, 'container runs AppArmor unconfined'));
    }
  }
  return out;
};

export const secretMount: Detector = (req) => {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    arr(ps.spec.volumes).forEach((v, i) => {
      const vol = rec(v);
      const sec = rec(vol?.secret);
      if (sec) out.push(hit('secretMount', `${ps.path}.volumes[${i}].secret`, `mounts Secret ${JSON.stringify(str(sec.secretName) ?? '')}`));
      arr(rec(vol?.projected)?.sources).forEach((s, j) => {
        const ps2 = rec(rec(s)?.secret);
        if (ps2) out.push(hit('secretMount', `${ps.path}.volumes[${i}].projected.sources[${j}].secret`, `projects Secret ${JSON.stringify(str(ps2.name) ?? '')}`));
      });
    });
    for (const { c, path } of containersOf(ps)) {
      arr(c.env).forEach((e, i) => {
        const ref = rec(rec(rec(e)?.valueFrom)?.secretKeyRef);
        if (ref) out.push(hit('secretMount', `${path}.env[${i}].valueFrom.secretKeyRef`, `reads Secret ${JSON.stringify(str(ref.name) ?? '')} into env`));
      });
      arr(c.envFrom).forEach((e, i) => {
        const ref = rec(rec(e)?.secretRef);
        if (ref) out.push(hit('secretMount', `${path}.envFrom[${i}].secretRef`, `reads Secret ${JSON.stringify(str(ref.name) ?? '')} into env`));
      });
    }
  }
  return out;
};

export const ephemeralContainers: Detector = (req: RequestAttributes) => {
  if (req.resource === 'pods' && req.subresource === 'ephemeralcontainers') return [hit('ephemeralContainers', 'subresource', 'adds ephemeral containers to a running pod (pods/ephemeralcontainers)')];
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    arr(ps.spec.ephemeralContainers).forEach((_, i) => out.push(hit('ephemeralContainers', `${ps.path}.ephemeralContainers[${i}]`, 'pod spec carries an ephemeral container')));
  }
  return out;
};
