import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.{ts,tsx}'],
          environment: 'happy-dom',
          environmentOptions: { happyDOM: { url: 'https://app.example/start?x=1' } },
          setupFiles: ['test/unit/setup.ts'],
          globalSetup: ['test/build-setup.ts'],
        },
      },
      {
        test: {
          name: 'server',
          include: ['test/server/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/build-setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ['test/build-setup.ts', 'test/e2e/global-setup.ts'],
        },
      },
      {
        test: {
          // npm pack -> fresh vite apps and a Node script outside the repo (test/package/pack.test.ts).
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          environment: 'node',
          testTimeout: 90_000,
          hookTimeout: 150_000,
          globalSetup: ['test/build-setup.ts'],
        },
      },
    ],
  },
})
