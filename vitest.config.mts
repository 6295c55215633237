import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests start real processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Process-heavy files share two cores: keep file-level parallelism modest.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
