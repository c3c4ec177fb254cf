// Approvals are read by approvers and by anyone allowed to list them: the values the masking rules hide
// from the agent are hidden there too. This adapts the response masker (src/masking, maskValue) to the
// approval service's redact hook; markers are keyed hashes, so a diff still shows which values change.
import type { MaskerFactory } from '../masking/types.js';
import { resourceCoordinates } from '../policy/coordinates.js';
import type { RequestAttributes, ResolvedMasking } from '../policy/types.js';
import type { HoldDecision } from './types.js';

type Obj = Record<string, unknown>;

/** Redacts an object shown on an Approval for this request. Must not keep or return its input's secrets. */
export type ApprovalRedactor = (obj: Obj, req: RequestAttributes, decision: HoldDecision) => Obj;

/** Rules for requests no masking rule covers (e.g. a human via the webhook): the Approval is still shared. */
const DEFAULT_RULES: ResolvedMasking = { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] };

/** The redactor that masks with the decision's masking rules (or strict defaults when it has none). */
export function maskingRedactor(masker: Pick<MaskerFactory, 'maskValue'>): ApprovalRedactor {
  const maskValue = masker.maskValue;
  if (!maskValue) throw new Error('the masker cannot mask parsed values (maskValue); Approvals would show secrets');
  return (obj, req, decision) => {
    // maskValue works in place: give it a copy.
    const out = maskValue(structuredClone(obj), { ...resourceCoordinates(req), watch: false }, decision.masking ?? DEFAULT_RULES);
    if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new Error('masking an Approval object did not return an object');
    return out as Obj;
  };
}
