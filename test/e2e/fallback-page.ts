// The e2e page (page.ts) plus the tab coordination on its own, for test/e2e/fallback.test.ts,
// which bundles this entry with code splitting, as an app's bundler ships it.
import { createTabs } from '../../dist/tabs.js'
import './page.js'
;(window as typeof window & Record<string, unknown>).createTabs = createTabs
