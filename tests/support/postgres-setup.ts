import { adminUrl, dropRunDatabases, withAdmin } from './postgres'

/**
 * `e2e-postgres`: checks that the test cluster answers before any server starts, and drops the
 * run's databases at the end (those a killed server or a failed test left behind).
 */
export default async function setup() {
  try {
    await withAdmin(c => c.query('SELECT 1'))
  }
  catch (error) {
    throw new Error(`e2e-postgres: cannot reach FLUME_TEST_DATABASE_URL (${adminUrl}): ${(error as Error).message}`, { cause: error })
  }
  return async () => {
    await dropRunDatabases()
  }
}
