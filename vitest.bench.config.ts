import { defineConfig } from 'vitest/config'

// `npm run bench` (not part of `npm test`: figures, not assertions on time).
export default defineConfig({
  test: {
    include: ['bench/**/*.test.ts'],
    environment: 'node',
    testTimeout: 600_000,
    hookTimeout: 120_000,
    globalSetup: ['test/build-setup.ts', 'test/e2e/global-setup.ts'],
  },
})
