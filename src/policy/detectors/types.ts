// The detector contract: a pure function from a request (and the policy's detector settings) to
// explanations naming the offending fields. An empty array means the detector did not fire.
import type { Explanation, RequestAttributes } from '../types.js';
import type { Matcher } from '../glob.js';
import type { Permission } from '../service-account-power.js';

export interface ResolvedDetectorSettings {
  /** Normalised registry prefixes; empty: any registry allowed. */
  allowedRegistries: string[];
  allowMutableTags: boolean;
  agentsMayDeleteOwnNamespaces: boolean;
  protectedNamespaces: Matcher;
  protectedNamespaceList: string[];
  dangerousCapabilities: ReadonlySet<string>;
  agentsMayDeleteControlledPods: boolean;
  /** Permissions a workload's ServiceAccount must not hold (powerfulServiceAccount); empty: no bound. */
  serviceAccountBound: readonly Permission[];
}

export type Detector = (req: RequestAttributes, s: ResolvedDetectorSettings) => Explanation[];
