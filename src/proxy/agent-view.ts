// What an agent may see of the objects it reads, beyond masking: only its own Approvals (reduced), and
// no echo of the airlock.dev/proxied token in the identities the API server reflects back
// (SelfSubjectReview, TokenReview). Applied by the masker to every unit of a response (src/masking/views.ts).
import { approvalForAgent } from '../approvals/agent-view.js';
import { PROXIED_EXTRA_KEY } from '../identity/proxied-token.js';
import type { ObjectView } from '../masking/index.js';
import type { ResourceCoordinates } from '../policy/types.js';
import { isObj } from './context.js';

type Obj = Record<string, unknown>;

/** Envelopes around the objects (List metadata, Table columns, Status) carry no object of their own. */
function isEnvelope(obj: Obj): boolean {
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  return kind.endsWith('List') || kind === 'Table' || kind === 'Status' || (kind === '' && !isObj(obj.spec) && !isObj(obj.metadata));
}

function withoutProxiedExtra(obj: Obj): Obj {
  for (const holder of [isObj(obj.status) ? obj.status.userInfo : undefined, isObj(obj.status) ? obj.status.user : undefined]) {
    if (isObj(holder) && isObj(holder.extra)) delete holder.extra[PROXIED_EXTRA_KEY];
  }
  return obj;
}

export function agentView(username: string, target: Pick<ResourceCoordinates, 'apiGroup' | 'resource'>): ObjectView {
  const approvals = target.apiGroup === 'airlock.dev' && target.resource === 'approvals';
  return (obj) => {
    if (isEnvelope(obj)) return obj;
    if (approvals || obj.kind === 'Approval') return approvalForAgent(obj, username);
    return withoutProxiedExtra(obj);
  };
}
