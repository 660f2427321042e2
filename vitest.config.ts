import { defineConfig } from 'vitest/config'

// Unit tests sit beside their modules in src/; integration and end-to-end tests live in test/.
// End-to-end files start real pm2 processes and TLS listeners, so they run one file at a time
// (fileParallelism off) to keep a 2-core machine from starving health probes.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets .ci/run print the plain "N passed, N failed" line CI reads.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
