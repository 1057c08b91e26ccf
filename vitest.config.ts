import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // the JSON report is what .ci/run turns into its closing "N passed, N failed" line
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    projects: [
      {
        extends: true,
        test: { name: 'host', include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        // the VM takes every core under qemu's emulation: run it after the timing-sensitive host tests
        extends: true,
        test: { name: 'vm', include: ['test/vm/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
      {
        // issue 8's load targets on a quiet machine: last, after everything else has finished
        extends: true,
        test: { name: 'perf', include: ['test/perf/**/*.test.ts'], sequence: { groupOrder: 2 } },
      },
    ],
  },
});
