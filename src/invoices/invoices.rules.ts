// Pure invoice rules (API.md §3.4, §4): the status machine, which types take a reference,
// what a reference must be, and who may do what now. The same predicate guards each action
// and builds the `can` list, so the list and the enforcement cannot drift. No I/O here.
import {
  INVOICE_TYPES,
  type InvoiceStatus,
  type InvoiceType,
  type OrderStatus,
  type Role,
} from '../db/schema.ts';
import type { RuleFailure } from '../errors.ts';
import { hasRole } from '../shared/roles.ts';

export const INVOICE_STATUSES = ['open', 'closed'] as const satisfies readonly InvoiceStatus[];
export const INVOICE_ACTIONS = ['update', 'delete', 'close', 'send'] as const;
export type InvoiceAction = (typeof INVOICE_ACTIONS)[number];

export const DEFAULT_INVOICE_TYPE: InvoiceType = 'standard';
export const DEFAULT_INVOICE_SOURCE = 'om-payments';

/** API.md §4: every write on invoices is a manager's (cashiers get nothing on invoices). */
export const INVOICE_ACTION_ROLE: Record<InvoiceAction, Role> = {
  update: 'manager',
  delete: 'manager',
  close: 'manager',
  send: 'manager',
};
export const CREATE_INVOICE_ROLE: Role = 'manager';

/** The one transition: open → closed. Closed is terminal (a correction is a credit note). */
const TRANSITIONS: Record<InvoiceStatus, readonly InvoiceStatus[]> = {
  open: ['closed'],
  closed: [],
};

export function canTransition(from: InvoiceStatus, to: InvoiceStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Whether the invoice's status admits the action: close follows the transition table. */
function statusAllows(action: InvoiceAction, status: InvoiceStatus): boolean {
  switch (action) {
    case 'update':
    case 'delete':
      return status === 'open';
    case 'close':
      return canTransition(status, 'closed');
    case 'send':
      return status === 'closed';
  }
}

export function isInvoiceType(value: string): value is InvoiceType {
  return (INVOICE_TYPES as readonly string[]).includes(value);
}

/** Credit and debit notes correct an earlier invoice; the other types stand alone. */
export function needsReference(type: InvoiceType): boolean {
  return type === 'credit-note' || type === 'debit-note';
}

/** An invoice can be drafted or changed only while its order is open. */
export function checkOrderOpen(orderStatus: OrderStatus): RuleFailure | null {
  if (orderStatus === 'canceled') return { code: 'ORDER_CANCELED' };
  if (orderStatus === 'closed') return { code: 'ORDER_CLOSED' };
  return null;
}

/**
 * The failure `action` would meet now, or null when it is allowed. Role first, then the
 * invoice's status, then its order:
 * - update: open invoice of an open order (the create rules hold for the changed invoice);
 * - delete: open invoice (a draft on any order can be discarded);
 * - close: open invoice of an order that is not canceled (closing after the order closed is
 *   the normal end of a sale);
 * - send: closed invoice (a number was issued), whatever happened to the order since.
 */
export function checkInvoiceAction(
  action: InvoiceAction,
  invoice: { status: InvoiceStatus },
  orderStatus: OrderStatus,
  role: Role,
): RuleFailure | null {
  const requiredRole = INVOICE_ACTION_ROLE[action];
  if (!hasRole(role, requiredRole)) return { code: 'FORBIDDEN', details: { requiredRole } };
  if (!statusAllows(action, invoice.status)) {
    return { code: 'INVALID_STATUS', details: { status: invoice.status } };
  }
  switch (action) {
    case 'update':
      return checkOrderOpen(orderStatus);
    case 'close':
      return orderStatus === 'canceled' ? { code: 'ORDER_CANCELED' } : null;
    case 'delete':
    case 'send':
      return null;
  }
}

export function canInvoice(
  action: InvoiceAction,
  invoice: { status: InvoiceStatus },
  orderStatus: OrderStatus,
  role: Role,
): boolean {
  return checkInvoiceAction(action, invoice, orderStatus, role) === null;
}

/** The actions this role may perform on this invoice now. */
export function invoiceCan(
  invoice: { status: InvoiceStatus },
  orderStatus: OrderStatus,
  role: Role,
): InvoiceAction[] {
  return INVOICE_ACTIONS.filter((action) => canInvoice(action, invoice, orderStatus, role));
}

/** What the terms check needs to know about a referenced invoice that exists in the org. */
export interface ReferencedInvoice {
  orderId: string;
  type: InvoiceType;
  status: InvoiceStatus;
}

/**
 * The type and reference of a new or changed invoice (API.md §3.4): the type is one of the
 * four; credit and debit notes reference a closed standard invoice of the same order; the
 * other types reference nothing. `reference` is the referenced row when it exists (not
 * deleted) in this organization, else undefined.
 */
export function checkInvoiceTerms(
  terms: { orderId: string; type: string; referenceInvoiceId: string | null },
  reference: ReferencedInvoice | undefined,
): RuleFailure | null {
  const { type, referenceInvoiceId } = terms;
  if (!isInvoiceType(type)) {
    return { code: 'TYPE_NOT_SUPPORTED', details: { type, supported: [...INVOICE_TYPES] } };
  }
  if (!needsReference(type)) {
    if (referenceInvoiceId === null) return null;
    return {
      code: 'InvalidParameter',
      details: {
        field: 'referenceInvoiceId',
        reason: `only credit and debit notes reference an invoice, not ${type}`,
      },
    };
  }
  if (referenceInvoiceId === null) {
    return {
      code: 'InvalidParameter',
      details: { field: 'referenceInvoiceId', reason: `is required for a ${type}` },
    };
  }
  // Another order's invoice answers like a missing one: a note corrects its own sale.
  if (reference === undefined || reference.orderId !== terms.orderId) {
    return { code: 'REF_INVOICE_NOT_FOUND', details: { referenceInvoiceId } };
  }
  if (reference.type !== 'standard') {
    return {
      code: 'NON_STANDARD_REF_INVOICE',
      details: { referenceInvoiceId, type: reference.type },
    };
  }
  if (reference.status !== 'closed') {
    return { code: 'REF_INVOICE_STILL_OPEN', details: { referenceInvoiceId } };
  }
  return null;
}
