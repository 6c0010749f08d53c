// Test runner settings: integration tests start real servers, so allow generous timeouts. The
// complexity test compares per-operation times at two pool sizes; it runs alone, after everything
// else, because other test files sharing the cores' caches distort exactly what it measures.
import { defineConfig } from "vitest/config";

const TIMING = ["test/core/complexity.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "main", include: ["test/**/*.test.ts"], exclude: TIMING } },
      { extends: true, test: { name: "timing", include: TIMING, sequence: { groupOrder: 1 } } },
    ],
  },
});
