import { AuthError } from './errors.js'

/**
 * Opens the login popup, synchronously (before any `await`: browsers allow `window.open` only in
 * the click that asked for it) on a blank page of this origin; the authorization URL follows once
 * known. The rest of the popup login is loaded only when used (`popup.ts`).
 * @throws {@link AuthError} `popup_blocked`
 */
export function openPopup(name: string): Window {
  const [width, height] = [500, 650]
  const left = Math.max(0, screenX + (outerWidth - width) / 2)
  const top = Math.max(0, screenY + (outerHeight - height) / 2)
  const popup = open('about:blank', `oauth-tabs:${name}`, `popup=yes,width=${width},height=${height},left=${left},top=${top}`)
  if (!popup) throw new AuthError('popup_blocked', 'The browser blocked the login popup; call login({ popup: true }) from a click handler')
  return popup
}
