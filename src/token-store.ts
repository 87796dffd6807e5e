import type { Store } from './store.js'
import { isTokenSet, type TokenSet } from './tokens.js'

/** Reads the stored token set; a record this version does not understand is discarded with a warning. */
export async function readTokens(store: Store, warn: (message: string) => void): Promise<TokenSet | undefined> {
  const stored = await store.get('tokens')
  if (stored === undefined || isTokenSet(stored)) return stored
  await store.update('tokens', (s) => (isTokenSet(s) ? s : undefined))
  warn('Unreadable token record discarded')
  return undefined
}

/** Stores `next` unless a set of the same or a later generation is already there; resolves to the winner. */
export function storeTokens(store: Store, next: TokenSet): Promise<TokenSet> {
  return store.update('tokens', (s) => (isTokenSet(s) && s.gen >= next.gen ? s : next)) as Promise<TokenSet>
}
