/// <reference types="vite/client" />
interface ImportMetaEnv {
  readonly VITE_ISSUER: string
  readonly VITE_CLIENT_ID: string
  readonly VITE_SCOPE?: string
  readonly VITE_API_ORIGINS?: string
  readonly VITE_TOKEN_PROXY?: string
  /** `0` turns the UserInfo request off (a provider without a userinfo_endpoint). */
  readonly VITE_USERINFO?: string
  /** `1`: DPoP (sender-constrained tokens), with the embedded provider and API set up for it. */
  readonly VITE_DPOP?: string
}
