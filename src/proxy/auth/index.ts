// Combines the authenticators: a verified client certificate first, then the bearer token (Authorization
// header, or the WebSocket token subprotocol) with the first token authenticator that accepts it.
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from '../../policy/types.js';
import { bearerToken } from '../headers.js';
import { ClientCertAuthenticator } from './client-cert.js';
import type { Authenticator, TokenAuthenticator } from './types.js';

export type { Authenticator, TokenAuthenticator } from './types.js';
export { OidcAuthenticator, OIDC_EXTRA_PREFIX, type OidcOptions } from './oidc.js';
export { TokenReviewAuthenticator, type TokenReviewOptions } from './tokenreview.js';
export { ClientCertAuthenticator } from './client-cert.js';

export class AuthenticationUnavailableError extends Error {}

export function unionAuthenticator(opts: { clientCerts?: boolean; tokens: TokenAuthenticator[] }): Authenticator {
  const certs = opts.clientCerts ? new ClientCertAuthenticator() : undefined;
  return {
    async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
      const token = bearerToken(req.headers);
      if (req.headers.authorization && token === undefined) return undefined; // malformed Authorization
      if (token !== undefined) {
        for (const t of opts.tokens) {
          if (t.accepts && !t.accepts(token)) continue;
          try {
            return await t.authenticateToken(token);
          } catch (err) {
            throw new AuthenticationUnavailableError(`token authentication failed: ${(err as Error).message}`);
          }
        }
        return undefined;
      }
      return certs ? certs.authenticate(req) : undefined;
    },
  };
}
