// The fuzz suite's world: its deterministic PRNG and the pools of real objects its valid
// requests point at. Shared with reliability/endpoints.ts, whose entries say how each route
// reaches its success path from these pools.
import type { OrgKeys } from './lib.ts';

/** Deterministic PRNG (mulberry32): the fuzz's request sequence is a function of the seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1]![0];
  }
}

export interface OrgWorld {
  org: OrgKeys;
  exponent: number;
  orders: string[];
  /** Open orders with room for receipts. */
  openOrders: string[];
  /** Open orders whose balance is 0 (close succeeds). */
  settledOrders: string[];
  closedOrders: string[];
  /** Open orders with nothing paid (cancel succeeds). */
  emptyOrders: string[];
  payments: string[];
  pending: { id: string; orderId: string }[];
  completeReceipts: { id: string; orderId: string }[];
  refunds: string[];
  invoices: { id: string; orderId: string }[];
  openInvoices: { id: string; orderId: string }[];
  closedInvoices: { id: string; orderId: string }[];
  /** Methods the fuzz may change or delete (never the organization's main method). */
  methods: string[];
  webhookEndpoints: string[];
  deliveries: { id: string; endpointId: string }[];
  cursors: string[];
}

export interface AdminWorld {
  rootKey: string;
  /** Organizations the fuzz may rename and re-configure. */
  spareOrgs: string[];
  allOrgs: string[];
  /** Keys the fuzz may revoke. */
  spareKeys: string[];
  allKeys: string[];
  cursors: string[];
}

/** Amounts valid in each currency exponent the fuzz's organizations use. */
export const AMOUNTS: Record<number, number[]> = {
  0: [1, 2, 5, 10],
  2: [0.01, 0.5, 1, 2.5, 10.25],
  3: [0.001, 0.5, 1.125, 2.5],
};

/** The most recent entries are the likeliest to still be in the state they were made in. */
export function recent<T>(g: Rng, items: readonly T[], window = 6): T {
  const start = Math.max(0, items.length - window);
  return g.chance(0.85) ? items[start + g.int(items.length - start)]! : g.pick(items);
}

/** What an endpoint's fuzz entry sees when it builds a request that should succeed. */
export interface FuzzContext {
  g: Rng;
  w: OrgWorld;
  a: AdminWorld;
  /** A fresh number for unique names and notes. */
  counter: () => number;
  /** An amount valid in w's currency, already drawn (the draw order is part of the seed). */
  amount: number;
}
