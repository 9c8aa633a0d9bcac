import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { defineVitestProject } from '@nuxt/test-utils/config'

// e2e and browser tests run against one production build (tests/support/global-setup.ts),
// made once per `vitest run`, not once per file.

// The e2e suite runs a second time on PostgreSQL when a test cluster is given (README, PostgreSQL).
const postgresUrl = process.env.FLUME_TEST_DATABASE_URL
// Names this run's throwaway databases, so its teardown drops exactly those.
process.env.FLUME_TEST_PG_RUN ||= `${process.pid}${Date.now().toString(36)}`
const projectFilter = process.argv.flatMap((arg, i, all) => arg === '--project' ? [all[i + 1]] : arg.startsWith('--project=') ? [arg.slice(10)] : [])
if (!postgresUrl && (!projectFilter.length || projectFilter.includes('e2e-postgres'))) {
  console.log('e2e-postgres: skipped, FLUME_TEST_DATABASE_URL is not set (see README, PostgreSQL)')
}

export default defineConfig({
  test: {
    projects: [
      {
        resolve: {
          alias: {
            '#shared': fileURLToPath(new URL('./shared', import.meta.url)),
            '#flume/platform': fileURLToPath(new URL('./server/platform/node.ts', import.meta.url)),
          },
        },
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      await defineVitestProject({
        test: {
          name: 'nuxt',
          include: ['tests/nuxt/**/*.test.ts'],
          environment: 'nuxt',
          environmentOptions: { nuxt: { domEnvironment: 'happy-dom' } },
        },
      }),
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      ...(postgresUrl
        ? [{
            test: {
              name: 'e2e-postgres',
              include: ['tests/e2e/**/*.test.ts'],
              environment: 'node',
              globalSetup: ['tests/support/global-setup.ts', 'tests/support/postgres-setup.ts'],
              env: { FLUME_TEST_STORAGE: 'postgres' },
              testTimeout: 30_000,
              hookTimeout: 120_000,
            },
          }]
        : []),
      {
        test: {
          // The Cloudflare build in workerd (wrangler dev, local D1): tests/support/cloudflare-setup.ts builds it.
          name: 'edge',
          include: ['tests/edge/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/cloudflare-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One Chromium at a time on a 2-core machine.
          fileParallelism: false,
        },
      },
    ],
  },
})
