import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/helpers/summary-reporter.js';

// Three suites: unit (pure logic, fast), integration (library against a real docker-registry the
// harness starts), e2e (the built CLI run as a user would, against the registry and `oras`).
export default defineConfig({
  test: {
    reporters: ['default', new SummaryReporter()],
    // Most e2e and integration time is spent in child processes (the CLI, docker-registry, oras): two
    // workers keep both cores busy on this 2-core machine.
    maxWorkers: 2,
    projects: [
      { test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/integration/**'], testTimeout: 20_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      { test: { name: 'e2e', include: ['e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
    ],
  },
});
