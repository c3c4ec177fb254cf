// powerfulServiceAccount: workloads may only run as ServiceAccounts whose permissions stay under the
// policy's bound, since code in the pod acts with the ServiceAccount's token outside Airlock's proxy.
// Judged on RequestAttributes.serviceAccounts, which the caller fills before deciding; unknown is denied.
import type { Explanation } from '../types.js';
import type { Detector } from './types.js';
import { hit } from './util.js';
import { describePermission, permissionKey, serviceAccountsOf } from '../service-account-power.js';

const NAME = 'powerfulServiceAccount';
const MAX_LISTED = 4;

const listed = (items: string[]): string =>
  items.slice(0, MAX_LISTED).join(', ') + (items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '');

export const powerfulServiceAccount: Detector = (req, s) => {
  if (s.serviceAccountBound.length === 0) return [];
  const out: Explanation[] = [];
  for (const use of serviceAccountsOf(req)) {
    const who = `ServiceAccount ${use.key}`;
    if (!use.namespace) {
      out.push(hit(NAME, use.path, `runs as ServiceAccount ${use.name} in a namespace the request does not name, so its permissions cannot be checked; denied (fail closed)`));
      continue;
    }
    const power = req.serviceAccounts?.[use.key];
    if (!power || typeof power !== 'object') {
      out.push(hit(NAME, use.path, `runs as ${who}, whose permissions were not checked before deciding; denied (fail closed)`));
      continue;
    }
    if ('error' in power) {
      out.push(hit(NAME, use.path, `runs as ${who}, whose permissions could not be checked (${String(power.error)}); denied (fail closed)`));
      continue;
    }
    const dangerous = new Set(Array.isArray(power.dangerous) ? power.dangerous : []);
    const checked = new Set(Array.isArray(power.checked) ? power.checked : []);
    const held = s.serviceAccountBound.filter((p) => dangerous.has(permissionKey(p)));
    const unchecked = s.serviceAccountBound.filter((p) => !checked.has(permissionKey(p)));
    if (held.length) {
      out.push(hit(NAME, use.path, `runs as ${who}, which may ${listed(held.map(describePermission))}: beyond the policy's ServiceAccount bound`));
    } else if (unchecked.length) {
      out.push(hit(NAME, use.path, `runs as ${who}, whose permissions to ${listed(unchecked.map(describePermission))} were not checked; denied (fail closed)`));
    }
  }
  return out;
};
