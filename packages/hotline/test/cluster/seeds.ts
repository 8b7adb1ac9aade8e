/**
 * The fault schedules the cluster tests replay, each drawn from a seed. `npm test` replays
 * seed 1 (the suite stays within its time); `npm run test:faults` replays seeds 1 and 7,
 * and `HOTLINE_FAULT_SEEDS=3,11,42 npm run test:faults` any others, to look for a schedule
 * that breaks a guarantee.
 */
export const FAULT_SEEDS: readonly number[] = parseSeeds(process.env.HOTLINE_FAULT_SEEDS ?? '1');

function parseSeeds(value: string): number[] {
  const seeds = value.split(',').map((part) => Number(part.trim()));
  if (seeds.length === 0 || seeds.some((seed) => !Number.isInteger(seed) || seed <= 0)) {
    throw new Error(`HOTLINE_FAULT_SEEDS must be positive integers separated by commas (got ${JSON.stringify(value)})`);
  }
  return seeds;
}
