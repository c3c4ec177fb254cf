// Copies the resource coordinates out of a larger object (RequestInfo, RequestAttributes), leaving out
// the optional parts that are empty, for records that must not carry undefined fields.
import type { ResourceCoordinates } from './types.js';

export function resourceCoordinates(c: ResourceCoordinates): ResourceCoordinates {
  return {
    verb: c.verb,
    apiGroup: c.apiGroup,
    apiVersion: c.apiVersion,
    resource: c.resource,
    ...(c.subresource ? { subresource: c.subresource } : {}),
    ...(c.namespace ? { namespace: c.namespace } : {}),
    ...(c.name ? { name: c.name } : {}),
  };
}
