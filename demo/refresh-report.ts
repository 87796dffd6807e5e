// The demo's own view of "one refresh for every tab": each tab reports, over a BroadcastChannel of
// the demo (not the library's), every new access token it takes up and whether it sent the refresh
// request itself. Tabs also say hello and goodbye, so a page can tell "3 of 3 tabs updated".

/** One refresh cycle: a new access token, keyed by its expiry, and the tabs that took it up. */
export interface Cycle {
  readonly expiresAt: number
  /** When this tab first heard of it (epoch ms). */
  readonly seenAt: number
  /** Tab name → true when that tab sent the refresh request, false when it adopted another tab's result. */
  readonly tabs: Map<string, boolean>
  /** Refresh grants the provider counted since the previous cycle this tab saw (or since it loaded). */
  grants?: number
}

/** What the tabs tell each other. */
type Message = { type: 'hello' | 'here' | 'bye'; tab: string } | { type: 'updated'; tab: string; expiresAt: number; sent: boolean }

/** Cycles kept, newest first. */
const KEEP = 10

/** Joins the demo's channel as `tab`; `onChange` runs whenever the open tabs or the cycles change. */
export function createRefreshReport(tab: string, onChange: () => void) {
  const channel = new BroadcastChannel('oauth-tabs-demo')
  const open = new Set([tab])
  const cycles = new Map<number, Cycle>()

  function record(from: string, expiresAt: number, sent: boolean): Cycle {
    let cycle = cycles.get(expiresAt)
    if (!cycle) {
      cycle = { expiresAt, seenAt: Date.now(), tabs: new Map() }
      cycles.set(expiresAt, cycle)
      for (const old of [...cycles.keys()].sort((a, b) => b - a).slice(KEEP)) cycles.delete(old)
    }
    cycle.tabs.set(from, sent)
    return cycle
  }

  channel.onmessage = ({ data }: MessageEvent<Message>) => {
    if (data.type === 'hello') channel.postMessage({ type: 'here', tab } satisfies Message)
    if (data.type === 'bye') open.delete(data.tab)
    else open.add(data.tab)
    if (data.type === 'updated') record(data.tab, data.expiresAt, data.sent)
    onChange()
  }
  const hello = () => channel.postMessage({ type: 'hello', tab } satisfies Message)
  hello()
  addEventListener('pagehide', () => channel.postMessage({ type: 'bye', tab } satisfies Message))
  // Back from the back/forward cache: the others heard "bye".
  addEventListener('pageshow', (e) => e.persisted && hello())

  return {
    /** Names of the tabs open on this origin (this one included), as far as this tab has heard. */
    open,
    /** Recent cycles by `expiresAt`. */
    cycles,
    /** This tab took up the access token expiring at `expiresAt`; `sent`: it sent the refresh request. */
    updated(expiresAt: number, sent: boolean): Cycle {
      const cycle = record(tab, expiresAt, sent)
      channel.postMessage({ type: 'updated', tab, expiresAt, sent } satisfies Message)
      onChange()
      return cycle
    },
  }
}
