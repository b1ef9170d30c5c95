// How long and how big each benchmark profile runs. `full` is what issue 6's targets are
// judged on; `quick` is for a look during development; `smoke` proves in CI that the
// benchmark itself still works (its figures are not judged, only its errors).
export interface BenchProfile {
  /** Seconds of unreported mixed load first, so the measured runs meet warm (JIT-compiled) code. */
  warmupS: number;
  /** Seconds per load scenario. */
  scenarioS: number;
  /** Seconds of the engine-ceiling loop. */
  ceilingS: number;
  /** Requests (one order each) per growth run. */
  growthCycles: number;
  /** Requests of the same operation, unreported, right before each growth run. */
  growthWarmCycles: number;
  /**
   * Runs per growth case; the median is judged (of an even number, the slower middle one).
   * One run of a few thousand requests lasts about a second, where one stall (a
   * checkpoint, a collection) moved the ratio by 0.2.
   */
  growthRounds: number;
  /** Payments in the database for the small and the large history. */
  historySmall: number;
  historyLarge: number;
  /**
   * Runs of the mixed load per side of a comparison in turns (1 vs 2 workers, metrics off vs
   * on); the rounds' paired ratios are compared (one scenario's length each).
   */
  pairedRounds: number;
  /** Length of the mixed run whose memory is compared at 30 s and at the end (0: none). */
  memoryS: number;
  /** Payments in the database (a year of history) for the one-day payments summary. */
  reportHistory: number;
  /** Summary requests measured, one at a time, after as many unreported ones. */
  reportRequests: number;
}

export const PROFILES = {
  smoke: {
    warmupS: 2,
    scenarioS: 2,
    ceilingS: 2,
    growthCycles: 150,
    growthWarmCycles: 50,
    growthRounds: 1,
    historySmall: 2_000,
    historyLarge: 10_000,
    pairedRounds: 1,
    memoryS: 0,
    reportHistory: 10_000,
    reportRequests: 100,
  },
  quick: {
    warmupS: 5,
    scenarioS: 10,
    ceilingS: 10,
    growthCycles: 1_000,
    growthWarmCycles: 500,
    growthRounds: 2,
    historySmall: 10_000,
    historyLarge: 100_000,
    pairedRounds: 2,
    memoryS: 0,
    reportHistory: 100_000,
    reportRequests: 500,
  },
  full: {
    warmupS: 10,
    scenarioS: 30,
    ceilingS: 30,
    growthCycles: 2_000,
    growthWarmCycles: 1_000,
    growthRounds: 3,
    historySmall: 10_000,
    historyLarge: 1_000_000,
    pairedRounds: 3,
    memoryS: 300,
    reportHistory: 1_000_000,
    reportRequests: 2_000,
  },
} satisfies Record<string, BenchProfile>;
export type ProfileName = keyof typeof PROFILES;
