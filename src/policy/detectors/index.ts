// The registry of built-in detectors, by the names policies use.
import type { Detector } from './types.js';
import type { StaticKey } from '../compile.js';
import * as pod from './pod.js';
import { imageRegistry, mutableImageTag } from './images.js';
import { dangerousCommand } from './commands.js';
import { rbacEscalation } from './rbac.js';
import * as access from './access.js';
import * as objects from './objects.js';
import { powerfulServiceAccount } from './serviceaccount.js';
import * as exec from './exec.js';

export const DETECTORS: Readonly<Record<string, Detector>> = Object.freeze({
  privileged: pod.privileged,
  hostPath: pod.hostPath,
  gitRepoVolume: pod.gitRepoVolume,
  seLinuxType: pod.seLinuxType,
  hostNetwork: pod.hostNetwork,
  hostPID: pod.hostPID,
  hostIPC: pod.hostIPC,
  hostPorts: pod.hostPorts,
  dangerousCapabilities: pod.dangerousCapabilities,
  runAsRoot: pod.runAsRoot,
  privilegeEscalation: pod.privilegeEscalation,
  procMount: pod.procMount,
  seccompUnconfined: pod.seccompUnconfined,
  apparmorUnconfined: pod.apparmorUnconfined,
  secretMount: pod.secretMount,
  ephemeralContainers: pod.ephemeralContainers,
  rbacEscalation,
  secretRead: access.secretRead,
  podExec: access.podExec,
  serviceAccountToken: access.serviceAccountToken,
  destructiveDelete: access.destructiveDelete,
  deleteOthersObjects: access.deleteOthersObjects,
  adoptsOthersObjects: access.adoptsOthersObjects,
  nodeWrite: access.nodeWrite,
  csrApproval: access.csrApproval,
  admissionWebhookChange: access.admissionWebhookChange,
  selfProtection: access.selfProtection,
  endpointsWrite: access.endpointsWrite,
  podSecurityLabels: access.podSecurityLabels,
  scaleToZero: objects.scaleToZero,
  ownerReferenceChange: objects.ownerReferenceChange,
  exposedService: objects.exposedService,
  externalIPs: objects.externalIPs,
  persistentVolumeHostPath: objects.persistentVolumeHostPath,
  ingressSnippet: objects.ingressSnippet,
  imageRegistry,
  mutableImageTag,
  dangerousCommand,
  powerfulServiceAccount,
  execInlineScript: exec.execInlineScript,
  execShell: exec.execShell,
  execCommandRunner: exec.execCommandRunner,
  execCredentialRead: exec.execCredentialRead,
  execNetwork: exec.execNetwork,
  execDestructive: exec.execDestructive,
  execInteractive: exec.execInteractive,
});

/**
 * Conservative static pre-checks: a detector can only fire for requests whose verb/group/resource pass its
 * check (a detector without one may fire for anything). Lets the engine skip rules cheaply; never used to
 * decide that something is safe.
 */
const WRITES = new Set(['create', 'update', 'patch']);
const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const writes = (k: StaticKey): boolean => WRITES.has(k.verb) && k.isResourceRequest;
const base = (k: StaticKey): string => k.resource.split('/')[0]!;
const sub = (k: StaticKey): string | undefined => k.resource.split('/')[1];
const execRequest = (k: StaticKey): boolean => k.isResourceRequest && k.apiGroup === '' && k.resource === 'pods/exec';
export const DETECTOR_RELEVANCE: Readonly<Record<string, ((k: StaticKey) => boolean) | undefined>> = Object.freeze({
  privileged: writes, hostPath: writes, gitRepoVolume: writes, seLinuxType: writes, hostNetwork: writes, hostPID: writes, hostIPC: writes, hostPorts: writes,
  dangerousCapabilities: writes, runAsRoot: writes, privilegeEscalation: writes, procMount: writes, seccompUnconfined: writes,
  apparmorUnconfined: writes, secretMount: writes, ephemeralContainers: writes, rbacEscalation: writes, scaleToZero: writes, ownerReferenceChange: writes,
  exposedService: writes, externalIPs: writes, ingressSnippet: writes, persistentVolumeHostPath: writes, imageRegistry: writes, mutableImageTag: writes,
  dangerousCommand: writes, powerfulServiceAccount: writes, podSecurityLabels: (k) => writes(k) && k.apiGroup === '' && base(k) === 'namespaces',
  serviceAccountToken: (k) => k.isResourceRequest && k.apiGroup === '' && (k.resource === 'serviceaccounts/token' || (base(k) === 'secrets' && WRITES.has(k.verb))),
  secretRead: (k) => k.isResourceRequest && k.apiGroup === '' && k.resource === 'secrets',
  podExec: (k) => k.isResourceRequest && k.apiGroup === '' && sub(k) !== undefined,
  destructiveDelete: (k) => k.isResourceRequest && (k.verb === 'delete' || k.verb === 'deletecollection'),
  deleteOthersObjects: (k) => k.isResourceRequest && (k.verb === 'delete' || k.verb === 'deletecollection'),
  adoptsOthersObjects: writes,
  nodeWrite: (k) => k.isResourceRequest && k.apiGroup === '' && base(k) === 'nodes',
  csrApproval: (k) => k.isResourceRequest && k.apiGroup === 'certificates.k8s.io',
  admissionWebhookChange: (k) => k.isResourceRequest && k.apiGroup === 'admissionregistration.k8s.io' && MUTATING.has(k.verb),
  endpointsWrite: (k) => k.isResourceRequest && MUTATING.has(k.verb) && (base(k) === 'endpoints' || base(k) === 'endpointslices'),
  selfProtection: undefined,
  execInlineScript: execRequest, execShell: execRequest, execCommandRunner: execRequest, execCredentialRead: execRequest,
  execNetwork: execRequest, execDestructive: execRequest,
  execInteractive: (k) => execRequest(k) || (k.isResourceRequest && k.apiGroup === '' && k.resource === 'pods/attach'),
});

export const DETECTOR_NAMES: readonly string[] = Object.keys(DETECTORS);

export type { Detector, ResolvedDetectorSettings } from './types.js';
