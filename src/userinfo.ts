import * as oauth from 'oauth4webapi'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import { REQUEST_TIMEOUT, type Provider } from './metadata.js'
import type { TokenSet } from './tokens.js'

/**
 * The set with the provider's UserInfo claims (OIDC Core §5.3), shown merged into `state.user`. The answer's `sub`
 * must equal the ID token's (§5.3.4); oauth4webapi checks it, and on a mismatch nothing is merged
 * (`invalid_response`). Loaded only by clients created with `userInfo: true`.
 * @throws {@link AuthError} `config` without a userinfo_endpoint; as the provider's answer dictates otherwise.
 */
export async function withUserInfo(provider: Provider, tokens: TokenSet): Promise<TokenSet> {
  const { as, client, options } = provider
  const sub = tokens.user?.sub
  if (!sub) return tokens
  if (!as.userinfo_endpoint) throw new AuthError('config', 'userInfo: the provider has no userinfo_endpoint (add it with options.metadata)')
  let claims: oauth.UserInfoResponse
  // A DPoP-bound token goes with a proof of its key (RFC 9449 §7), and one nonce retry.
  const DPoP = tokens.jkt ? await provider.dpop?.forTokens(tokens.jkt) : undefined
  const request = () => oauth.userInfoRequest(as, client, tokens.accessToken, { ...options, DPoP, signal: AbortSignal.timeout(REQUEST_TIMEOUT) })
  try {
    let response = await request()
    try {
      claims = await oauth.processUserInfoResponse(as, client, sub, response)
    } catch (err) {
      if (!DPoP || !oauth.isDPoPNonceError(err)) throw err
      response = await request()
      claims = await oauth.processUserInfoResponse(as, client, sub, response)
    }
  } catch (err) {
    throw toAuthError(err, 'UserInfo')
  }
  return { ...tokens, userInfo: { ...claims } }
}
