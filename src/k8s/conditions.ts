// Kubernetes status conditions (metav1.Condition): the one builder the controllers share.
import type { Condition } from '../api/types.js';

/**
 * A condition as of `now`, keeping lastTransitionTime from the same-typed condition in `previous` while its
 * status holds (a transition is a change of status, not of reason or message). Messages are cut to the
 * CRD's 32 KiB bound.
 */
export function condition(type: string, status: Condition['status'], reason: string, message: string, generation: number, previous: readonly Condition[] | undefined, now: Date): Condition {
  const before = previous?.find((c) => c.type === type);
  return {
    type,
    status,
    reason,
    message: message.slice(0, 32768),
    observedGeneration: generation,
    lastTransitionTime: before && before.status === status ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
