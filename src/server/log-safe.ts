/**
 * Makes a request- or provider-derived value safe inside one log line: control characters (CR,
 * LF, ESC, …), non-ASCII and backslashes become `\uXXXX` escapes, so a value can neither start a
 * forged line nor drive a terminal; and it is cut at `max` characters (marked with `…`).
 */
export function logSafe(value: unknown, max = 80): string {
  const text = String(value)
  const escaped = (text.length > max ? text.slice(0, max) : text).replace(/[^\x20-\x5b\x5d-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return text.length > max ? `${escaped}…` : escaped
}
