// Invoices (API.md §3.4): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import { contextOf } from '../http/auth.ts';
import { route, routes, type DeclaredError } from '../http/route.ts';
import { IdPath, Page, Success } from '../http/schemas.ts';
import {
  CloseInvoiceBody,
  ClosedInvoice,
  CreateInvoiceBody,
  CreatedInvoice,
  DeletedInvoice,
  InvoiceSchema,
  ListInvoicesQuery,
  SendInvoiceBody,
  SentInvoice,
  UpdateInvoiceBody,
} from './invoices.schemas.ts';
import * as service from './invoices.service.ts';

const ROLE: DeclaredError = [
  'FORBIDDEN',
  'The key may not act on this organization, or its role lacks the permission (`details.requiredRole`).',
];
const TERMS: DeclaredError[] = [
  ['TYPE_NOT_SUPPORTED', 'The type is not standard, credit-note, debit-note or prepayment.'],
  ['REF_INVOICE_NOT_FOUND', 'The referenceInvoiceId is not an invoice of the same order.'],
  ['NON_STANDARD_REF_INVOICE', 'Credit and debit notes must reference a standard invoice.'],
  ['REF_INVOICE_STILL_OPEN', 'The referenced invoice must already be closed.'],
];
const NOT_OPEN: DeclaredError = ['INVALID_STATUS', 'The invoice is not open.'];

/** Under /v1/om (organization keys). */
export const invoiceRoutes = routes({
  auth: 'organization',
  tags: ['invoices'],
  routes: [
    route({
      method: 'POST',
      url: '/invoices',
      operationId: 'createInvoice',
      summary: 'Draft an invoice on an open order (manager)',
      description: 'Numbered only when closed (a gap-free per-organization sequence).',
      body: CreateInvoiceBody,
      example: {
        params: {
          orderId: '01934f6e-8f3a-7c2e-9d41-6b2f0a9c1e55',
          type: 'standard',
          referenceInvoiceId: null,
          applyExpiresAt: '2026-12-31T21:00:00Z',
        },
      },
      data: CreatedInvoice,
      errors: [
        ['ORDER_NOT_FOUND', 'The orderId does not name an order of this organization.'],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ['ORDER_CLOSED', 'The order is closed.'],
        ...TERMS,
        ROLE,
      ],
      handler: async (request) => ({
        data: await service.createInvoice(
          request.database,
          contextOf(request),
          request.body.params,
        ),
      }),
    }),
    route({
      method: 'GET',
      url: '/invoices',
      operationId: 'listInvoices',
      summary: 'List invoices, newest first',
      description: 'Cursor paging: pass `next` back as `cursor`; null on the last page.',
      querystring: ListInvoicesQuery,
      data: Page(InvoiceSchema),
      errors: [],
      handler: async (request) => ({
        data: await service.listInvoices(request.database, contextOf(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/invoices/:uid',
      operationId: 'getInvoice',
      summary: 'Get an invoice',
      params: IdPath,
      data: Type.Object({ invoice: InvoiceSchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          invoice: await service.getInvoice(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/invoices/:uid',
      operationId: 'updateInvoice',
      summary: 'Change an open invoice: type, reference, expiry (manager)',
      description: '`null` clears `referenceInvoiceId` or `applyExpiresAt`.',
      params: IdPath,
      body: UpdateInvoiceBody,
      example: { params: { applyExpiresAt: null } },
      data: Success,
      errors: [
        NOT_OPEN,
        ['ORDER_CANCELED', 'The order is canceled.'],
        ['ORDER_CLOSED', 'The order is closed.'],
        ...TERMS,
        ROLE,
      ],
      handler: async (request) => {
        await service.updateInvoice(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return { data: { success: true as const } };
      },
    }),
    route({
      method: 'DELETE',
      url: '/invoices/:uid',
      operationId: 'deleteInvoice',
      summary: 'Delete an open invoice (manager); answers {succeed: true}',
      params: IdPath,
      data: DeletedInvoice,
      errors: [NOT_OPEN, ROLE],
      handler: async (request) => {
        await service.deleteInvoice(request.database, contextOf(request), request.params.uid);
        return { data: { succeed: true as const } };
      },
    }),
    route({
      method: 'PATCH',
      url: '/invoices/:uid/close',
      operationId: 'closeInvoice',
      summary: "Close an open invoice with the organization's next invoice number (manager)",
      params: IdPath,
      body: CloseInvoiceBody,
      example: { params: { invoiceSource: 'erp-main' } },
      data: ClosedInvoice,
      errors: [NOT_OPEN, ['ORDER_CANCELED', 'The order is canceled.'], ROLE],
      handler: async (request) => ({
        data: await service.closeInvoice(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body?.params,
        ),
      }),
    }),
    route({
      method: 'POST',
      url: '/invoices/:uid/send',
      operationId: 'sendInvoice',
      summary: 'Record the sending of a closed invoice (manager)',
      description: 'Records an `invoice.sent` event; `messageId` is its id.',
      params: IdPath,
      body: SendInvoiceBody,
      example: { params: { channel: 'email', recipient: 'accounts@example.com' } },
      data: SentInvoice,
      errors: [['INVALID_STATUS', 'The invoice is not closed yet.'], ROLE],
      handler: async (request) => {
        const { messageId } = await service.sendInvoice(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body?.params,
        );
        return { data: { success: true as const, messageId } };
      },
    }),
  ],
});
