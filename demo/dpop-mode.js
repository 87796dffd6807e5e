// `VITE_DPOP=1 npm start`: the demo with sender-constrained tokens (DPoP, RFC 9449). The embedded
// provider issues JWT access tokens for the demo API (its resource `<page origin>/api`), bound to the
// browser's key, and demands DPoP nonces; the demo API validates every proof itself and demands its own
// nonce. The page turns on `dpop: true` (demo/main.ts reads the same variable).

/**
 * The provider's and the API's options for the demo's DPoP mode, or empty ones when it is off.
 * @param {Record<string, string | undefined>} env - process.env
 * @param {string} appOrigin - the page's origin (the API's resource indicator is built from it)
 */
export function dpopMode(env, appOrigin) {
  if (env.VITE_DPOP !== '1') return { on: false, provider: {}, api: {} }
  const audience = `${appOrigin}/api`
  return {
    on: true,
    provider: { dpop: { requireNonce: true }, apiResource: audience },
    api: { audience, requireDPoP: true, requireNonce: true },
  }
}
