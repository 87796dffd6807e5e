import type { IDToken, TokenEndpointResponse } from 'oauth4webapi'
import { AuthError } from './errors.js'

/** Current record layout; a stored record of another version is discarded. */
export const SCHEMA = 1

/** Lifetime assumed when a token response has no `expires_in` (RFC 6749 §5.1 makes it optional). */
export const DEFAULT_LIFETIME = 3600_000

/**
 * The user's claims: the ID token's, plus UserInfo's with `userInfo: true` (`name`, `email`, ...).
 * @example
 * ```ts
 * import type { User } from 'oauth-tabs'
 *
 * const user: User | undefined = auth.getState().user
 * greet(String(user?.name ?? user?.sub))
 * ```
 */
export type User = Readonly<Record<string, unknown>> & {
  /** The subject: the provider's stable identifier of the user. */
  readonly sub: string
}

/** A stored token set. Times are epoch ms of this browser's clock. */
export interface TokenSet {
  readonly v: typeof SCHEMA
  /** Increases by one with every write; a write that is not newer than the stored set is dropped. */
  readonly gen: number
  readonly accessToken: string
  readonly tokenType: string
  readonly refreshToken?: string
  readonly idToken?: string
  readonly scope?: string
  /** The ID token's claims (the checks of a refreshed ID token compare against these). */
  readonly user?: User
  /** The UserInfo endpoint's claims (`userInfo: true`), kept apart so they can never stand in for the ID token's. */
  readonly userInfo?: Readonly<Record<string, unknown>>
  /** When the access token expires. */
  readonly expiresAt: number
  /** When a refresh is due: `refreshSkew` before expiry, but not before half the lifetime. */
  readonly refreshAt: number
  /** Thumbprint of the DPoP key the tokens are bound to (`dpop: true`); absent for Bearer tokens. */
  readonly jkt?: string
}

/**
 * Builds the token set to store from a token response received at `now`.
 * Expiry comes from `expires_in` and the local receive time, never from token
 * contents, so a skewed clock cannot make a token look fresh (RFC 6749 §5.1).
 * A refresh response without a new refresh token or ID token keeps the previous ones.
 * `jkt` (the DPoP key's thumbprint, kept from `previous`) asks for a DPoP-bound token (RFC 9449 §5).
 * @throws {@link AuthError} `invalid_response` for a token type other than the one asked for: Bearer
 * without DPoP; with DPoP, `DPoP` only (a Bearer answer is a downgrade: refused, nothing stored).
 */
export function toTokenSet(response: TokenEndpointResponse, claims: IDToken | undefined, now: number, skew: number, previous?: TokenSet, jkt = previous?.jkt): TokenSet {
  // oauth4webapi accepts both and lowercases the type; the one asked for is the only one usable.
  const expected = jkt ? 'dpop' : 'bearer'
  if (response.token_type !== expected) {
    throw new AuthError('invalid_response', jkt && response.token_type === 'bearer' ? 'The provider answered a Bearer token although DPoP was asked for (a downgrade); nothing stored' : `Unsupported token_type "${response.token_type}"`)
  }
  const lifetime = response.expires_in === undefined ? DEFAULT_LIFETIME : Math.max(0, response.expires_in * 1000)
  const user = claims ? ({ ...claims } as User) : previous?.user
  return {
    v: SCHEMA,
    gen: (previous?.gen ?? 0) + 1,
    accessToken: response.access_token,
    tokenType: response.token_type,
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    idToken: response.id_token ?? previous?.idToken,
    scope: response.scope ?? previous?.scope,
    user,
    ...(previous?.userInfo && !claims ? { userInfo: previous.userInfo } : {}),
    expiresAt: now + lifetime,
    refreshAt: now + Math.max(lifetime - skew, lifetime / 2),
    ...(jkt ? { jkt } : {}),
  }
}

/** Claims of the ID token that are about the token itself: UserInfo never overrides them in `state.user`. */
const PROTOCOL_CLAIMS = ['sub', 'iss', 'aud', 'azp', 'exp', 'iat', 'nbf', 'auth_time', 'nonce', 'at_hash', 'c_hash', 'sid', 'acr', 'amr']

/** The user an app sees: the ID token's claims with UserInfo's profile claims over them. */
export function userOf(tokens: TokenSet | undefined): User | undefined {
  if (!tokens?.userInfo || !tokens.user) return tokens?.user
  const profile = Object.fromEntries(Object.entries(tokens.userInfo).filter(([name]) => !PROTOCOL_CLAIMS.includes(name)))
  return { ...tokens.user, ...profile }
}

/** True when a stored value is a token set this version understands. */
export function isTokenSet(value: unknown): value is TokenSet {
  const t = value as TokenSet | undefined
  return t?.v === SCHEMA && typeof t.accessToken === 'string' && [t.gen, t.expiresAt, t.refreshAt].every(Number.isFinite)
}

/** True when the access token can be used without refreshing first. */
export function isFresh(tokens: TokenSet | undefined, now: number): tokens is TokenSet {
  return !!tokens && now < tokens.refreshAt
}

/** True when the access token can still be sent, even if a refresh is due. */
export function isUsable(tokens: TokenSet | undefined, now: number): tokens is TokenSet {
  return !!tokens && now < tokens.expiresAt
}
