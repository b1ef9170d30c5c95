// /v1/om/webhook-endpoints (API.md §7.2): thin routes, admin role (checked in the service).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WebhookConfig } from '../config.ts';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { IdPath, OrgHeaders, Page, PageQuery, Success, responses } from '../http/schemas.ts';
import {
  CreateEndpointBody,
  Created,
  DeliveryListQuery,
  DeliveryPath,
  DeliverySchema,
  EndpointSchema,
  Secret,
  TestSent,
  UpdateEndpointBody,
} from './webhooks.schemas.ts';
import * as service from './webhooks.service.ts';

const tags = ['webhooks'];
const COMMON = ['UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED'] as const;
const WRITE = [...COMMON, 'IDEMPOTENCY_IN_PROGRESS', 'IDEMPOTENCY_KEY_REUSED'] as const;

/** Error codes each route can answer (for the per-route declaration in OpenAPI). */
export const WEBHOOK_ROUTE_ERRORS = {
  'POST /webhook-endpoints': ['InvalidParameter', ...WRITE],
  'GET /webhook-endpoints': ['InvalidParameter', ...COMMON],
  'GET /webhook-endpoints/{uid}': ['NOT_FOUND', ...COMMON],
  'PATCH /webhook-endpoints/{uid}': ['InvalidParameter', 'NOT_FOUND', ...WRITE],
  'DELETE /webhook-endpoints/{uid}': ['NOT_FOUND', ...WRITE],
  'POST /webhook-endpoints/{uid}/rotate-secret': ['NOT_FOUND', ...WRITE],
  'POST /webhook-endpoints/{uid}/test': ['NOT_FOUND', ...WRITE],
  'GET /webhook-endpoints/{uid}/deliveries': ['InvalidParameter', 'NOT_FOUND', ...COMMON],
  'POST /webhook-endpoints/{uid}/deliveries/{deliveryId}/retry': ['NOT_FOUND', ...WRITE],
} as const;

export function webhookRoutes(config: WebhookConfig): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/webhook-endpoints',
      {
        schema: {
          tags,
          operationId: 'createWebhookEndpoint',
          description: 'API.md §7.2.',
          summary: 'Create a webhook endpoint; its secret is answered only here (admin)',
          headers: OrgHeaders,
          body: CreateEndpointBody,
          response: responses(Created),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.createEndpoint(
            request.database,
            contextOf(request),
            config,
            request.body.params,
          ),
        ),
    );
    app.get(
      '/webhook-endpoints',
      {
        schema: {
          tags,
          operationId: 'listWebhookEndpoints',
          description: 'API.md §7.2.',
          summary: 'List webhook endpoints, newest first (admin)',
          headers: OrgHeaders,
          querystring: PageQuery,
          response: responses(Page(EndpointSchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listEndpoints(request.database, contextOf(request), request.query),
        ),
    );
    app.get(
      '/webhook-endpoints/:uid',
      {
        schema: {
          tags,
          operationId: 'getWebhookEndpoint',
          description: 'API.md §7.2.',
          summary: 'Get a webhook endpoint (never its secret) (admin)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Type.Object({ webhookEndpoint: EndpointSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          webhookEndpoint: await service.getEndpoint(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        }),
    );
    app.patch(
      '/webhook-endpoints/:uid',
      {
        schema: {
          tags,
          operationId: 'updateWebhookEndpoint',
          description: 'API.md §7.2.',
          summary: 'Change a webhook endpoint (admin)',
          headers: OrgHeaders,
          params: IdPath,
          body: UpdateEndpointBody,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.updateEndpoint(
          request.database,
          contextOf(request),
          config,
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, { success: true as const });
      },
    );
    app.delete(
      '/webhook-endpoints/:uid',
      {
        schema: {
          tags,
          operationId: 'deleteWebhookEndpoint',
          description: 'API.md §7.2.',
          summary: 'Delete a webhook endpoint and its pending deliveries (admin)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.deleteEndpoint(request.database, contextOf(request), request.params.uid);
        return ok(request.id, { success: true as const });
      },
    );
    app.post(
      '/webhook-endpoints/:uid/rotate-secret',
      {
        schema: {
          tags,
          operationId: 'rotateWebhookSecret',
          description: 'API.md §7.2.',
          summary: 'A new secret; the previous one keeps signing beside it for 24 h (admin)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Secret),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.rotateSecret(request.database, contextOf(request), request.params.uid),
        ),
    );
    app.post(
      '/webhook-endpoints/:uid/test',
      {
        schema: {
          tags,
          operationId: 'testWebhookEndpoint',
          description: 'API.md §7.2.',
          summary: 'Send a webhook.test event to this endpoint alone (admin)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(TestSent),
        },
      },
      async (request) => {
        const { eventId } = await service.testEndpoint(
          request.database,
          contextOf(request),
          request.params.uid,
        );
        return ok(request.id, { success: true as const, eventId });
      },
    );
    app.get(
      '/webhook-endpoints/:uid/deliveries',
      {
        schema: {
          tags,
          operationId: 'listWebhookDeliveries',
          description: 'API.md §7.2.',
          summary: "An endpoint's deliveries, newest first (admin)",
          headers: OrgHeaders,
          params: IdPath,
          querystring: DeliveryListQuery,
          response: responses(Page(DeliverySchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listDeliveries(
            request.database,
            contextOf(request),
            request.params.uid,
            request.query,
          ),
        ),
    );
    app.post(
      '/webhook-endpoints/:uid/deliveries/:deliveryId/retry',
      {
        schema: {
          tags,
          operationId: 'retryWebhookDelivery',
          description: 'API.md §7.2.',
          summary: 'Schedule a new attempt of a delivery now (admin)',
          headers: OrgHeaders,
          params: DeliveryPath,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.retryDelivery(
          request.database,
          contextOf(request),
          request.params.uid,
          request.params.deliveryId,
        );
        return ok(request.id, { success: true as const });
      },
    );
  };
}
