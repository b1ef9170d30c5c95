// Thin routes (API.md §3.4): schema in, one service call, envelope out.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { IdPath, OrgHeaders, Page, Success, responses } from '../http/schemas.ts';
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

const tags = ['invoices'];
const headers = OrgHeaders;

/** Under /v1/om (organization keys). */
export function invoiceRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/invoices',
      {
        schema: {
          tags,
          headers,
          summary: 'Draft an invoice on an open order (manager)',
          body: CreateInvoiceBody,
          response: responses(CreatedInvoice),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.createInvoice(request.database, contextOf(request), request.body.params),
        ),
    );
    app.get(
      '/invoices',
      {
        schema: {
          tags,
          headers,
          summary: 'List invoices, newest first',
          querystring: ListInvoicesQuery,
          response: responses(Page(InvoiceSchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listInvoices(request.database, contextOf(request), request.query),
        ),
    );
    app.get(
      '/invoices/:uid',
      {
        schema: {
          tags,
          headers,
          summary: 'Get an invoice',
          params: IdPath,
          response: responses(Type.Object({ invoice: InvoiceSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          invoice: await service.getInvoice(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        }),
    );
    app.patch(
      '/invoices/:uid',
      {
        schema: {
          tags,
          headers,
          summary: 'Change an open invoice: type, reference, expiry (manager)',
          params: IdPath,
          body: UpdateInvoiceBody,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.updateInvoice(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, { success: true as const });
      },
    );
    app.delete(
      '/invoices/:uid',
      {
        schema: {
          tags,
          headers,
          summary: 'Delete an open invoice (manager); answers {succeed: true}',
          params: IdPath,
          response: responses(DeletedInvoice),
        },
      },
      async (request) => {
        await service.deleteInvoice(request.database, contextOf(request), request.params.uid);
        return ok(request.id, { succeed: true as const });
      },
    );
    app.patch(
      '/invoices/:uid/close',
      {
        schema: {
          tags,
          headers,
          summary: "Close an open invoice with the organization's next invoice number (manager)",
          params: IdPath,
          body: CloseInvoiceBody,
          response: responses(ClosedInvoice),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.closeInvoice(
            request.database,
            contextOf(request),
            request.params.uid,
            request.body?.params,
          ),
        ),
    );
    app.post(
      '/invoices/:uid/send',
      {
        schema: {
          tags,
          headers,
          summary: 'Record the sending of a closed invoice (manager)',
          params: IdPath,
          body: SendInvoiceBody,
          response: responses(SentInvoice),
        },
      },
      async (request) => {
        const { messageId } = await service.sendInvoice(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body?.params,
        );
        return ok(request.id, { success: true as const, messageId });
      },
    );
  };
}
