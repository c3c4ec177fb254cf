// Authentication of agents at the proxy. An Authenticator answers who sent a request, or undefined.
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from '../../policy/types.js';

export interface Authenticator {
  /** The identity behind the request, or undefined when these credentials are not recognised. */
  authenticate(req: IncomingMessage): Promise<UserInfo | undefined>;
}

/** A token authenticator that can say cheaply whether a token is its kind (e.g. a JWT from its issuer). */
export interface TokenAuthenticator {
  accepts?(token: string): boolean;
  authenticateToken(token: string): Promise<UserInfo | undefined>;
}
