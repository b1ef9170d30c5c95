// Amounts at the edge: the wire's JSON numbers in major units ⇄ integers of minor units in
// the organization's currency (API.md §2). Failures name the field (`details.field`).
import { invalidParameter } from '../errors.ts';
import type { RequestContext } from '../shared/context.ts';
import { fromMinor, fromMinorSum, toMinor, type AmountFailure } from './amount.ts';

const REASONS: Record<AmountFailure, string> = {
  not_a_number: 'must be a number',
  not_finite: 'must be a finite number',
  not_positive: 'must be greater than zero',
  too_precise: 'has more decimals than the currency allows',
  too_large: 'is above the maximum amount',
};

/** A wire amount → minor units, or InvalidParameter naming `field`. */
export function parseAmount(ctx: RequestContext, field: string, value: unknown): number {
  const { currencyExponent, maxAmountMinor, currency } = ctx.organization;
  const result = toMinor(value, currencyExponent, maxAmountMinor);
  if (!result.ok) {
    throw invalidParameter(field, REASONS[result.reason], {
      currency,
      decimals: currencyExponent,
    });
  }
  return result.minor;
}

/** Minor units → the wire amount. */
export function formatAmount(ctx: RequestContext, minor: number): number {
  return fromMinor(minor, ctx.organization.currencyExponent);
}

/** A sum of minor units (exact, a BigInt) → the wire amount. */
export function formatSum(ctx: RequestContext, minor: bigint): number {
  return fromMinorSum(minor, ctx.organization.currencyExponent);
}
