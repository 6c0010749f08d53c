// The redis benches' load loop: N concurrent callers repeat one operation; completed ones are counted
// only inside the measuring window after a warm-up, and the first error is shown.

export interface MeasureOptions {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

const log = (s: string): void => void process.stderr.write(s + "\n");

/** Runs `concurrency` loops of `op` and returns completed ops per second inside the window. */
export async function measure(options: MeasureOptions, op: (worker: number) => Promise<void>): Promise<number> {
  const start = Date.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.measureMs;
  let counted = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, w) => {
      while (Date.now() < end) {
        try {
          await op(w);
          const now = Date.now();
          if (now >= measureFrom && now < end) counted++;
        } catch (e) {
          if (++errors === 1) log(`  first error: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }),
  );
  if (errors > 0) log(`  ${errors} failed operations`);
  return Math.round(counted / (options.measureMs / 1000));
}
