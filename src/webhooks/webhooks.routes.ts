// /v1/om/webhook-endpoints (API.md §7.2): thin routes, admin role (checked in the service).
import { Type } from '@sinclair/typebox';
import type { WebhookConfig } from '../config.ts';
import { contextOf } from '../http/auth.ts';
import { route, routes, type DeclaredError } from '../http/route.ts';
import { IdPath, Page, PageQuery, Success } from '../http/schemas.ts';
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

declare module 'fastify' {
  interface FastifyInstance {
    /** URL rules of endpoints (WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE), set in src/app.ts. */
    webhookConfig: WebhookConfig;
  }
}

// Every route here is the admin's: a lesser role is told which one it needs.
const ADMIN: DeclaredError = [
  'FORBIDDEN',
  'The key may not act on this organization, or its role is not admin (`details.requiredRole`: `admin`).',
];
const NO_ENDPOINT: DeclaredError = [
  'NOT_FOUND',
  'No webhook endpoint with this id in this organization.',
];
// The checks of webhooks.service.ts (checkUrl, checkEvents, checkDescription) and the schema.
const ENDPOINT_FIELDS: DeclaredError = [
  'InvalidParameter',
  'A field is invalid; `details.field` names it. `url`: not an absolute `https://` URL (`http://` ' +
    'only with WEBHOOK_ALLOW_HTTP=1), carries credentials, or its host is or resolves to a ' +
    'loopback, private, link-local or unspecified address (unless WEBHOOK_ALLOW_PRIVATE=1); ' +
    '`events`: empty, over 50 entries, or an entry neither an event type nor a prefix ending ' +
    'in `.*`; `description`: over 500 characters; or an unknown field, a header.',
];
const BAD_CURSOR: DeclaredError = [
  'InvalidParameter',
  '`cursor` is not a `next` this list answered, or `limit`, a filter or a header is invalid; ' +
    '`details.field` names it.',
];
const PAGING = 'Newest first, cursor paging: pass `next` back as `cursor`; null on the last page.';

/** Under /v1/om (organization keys, admin role). */
export const webhookRoutes = routes({
  auth: 'organization',
  tags: ['webhooks'],
  routes: [
    route({
      method: 'POST',
      url: '/webhook-endpoints',
      operationId: 'createWebhookEndpoint',
      summary: 'Create a webhook endpoint; its secret is answered only here (admin)',
      description:
        'Registers a URL to be called with every event of the organization whose type matches ' +
        '`events` (exact types or prefixes ending in `.*`; absent = all), signed per Standard ' +
        'Webhooks 1.0 (API.md §7.2, §7.3). The answer carries the `secret` (`whsec_…`) that ' +
        'signs deliveries: keep it, it is never shown again (rotate it to get a new one). ' +
        'Events committed from now on are delivered; use the feed (§7.1) for older ones.',
      body: CreateEndpointBody,
      example: {
        params: {
          url: 'https://erp.example.com/hooks/om',
          events: ['payment.*', 'invoice.sent'],
          description: 'ERP: payments and sent invoices',
          enabled: true,
        },
      },
      data: Created,
      errors: [ENDPOINT_FIELDS, ADMIN],
      handler: async (request) => ({
        data: await service.createEndpoint(
          request.database,
          contextOf(request),
          request.server.webhookConfig,
          request.body.params,
        ),
      }),
    }),
    route({
      method: 'GET',
      url: '/webhook-endpoints',
      operationId: 'listWebhookEndpoints',
      summary: 'List webhook endpoints, newest first (admin)',
      description: `The organization's endpoints (API.md §7.2), never their secrets. ${PAGING}`,
      querystring: PageQuery,
      data: Page(EndpointSchema),
      errors: [BAD_CURSOR, ADMIN],
      handler: async (request) => ({
        data: await service.listEndpoints(request.database, contextOf(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/webhook-endpoints/:uid',
      operationId: 'getWebhookEndpoint',
      summary: 'Get a webhook endpoint (never its secret) (admin)',
      description:
        'Its URL, event filter, whether it is enabled, and `failingSince`: since when every ' +
        'attempt has failed (null while deliveries succeed); after 5 days of that it is ' +
        'disabled (API.md §7.2, §7.3).',
      params: IdPath,
      data: Type.Object({ webhookEndpoint: EndpointSchema }),
      errors: [NO_ENDPOINT, ADMIN],
      handler: async (request) => ({
        data: {
          webhookEndpoint: await service.getEndpoint(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/webhook-endpoints/:uid',
      operationId: 'updateWebhookEndpoint',
      summary: 'Change a webhook endpoint (admin)',
      description:
        'Changes `url`, `events`, `description` or `enabled` (API.md §7.2); `null` for ' +
        '`events` means every event again, for `description` clears it. Turning an endpoint ' +
        'on again restarts its 5 days of failure. The URL rules are those of creation.',
      params: IdPath,
      body: UpdateEndpointBody,
      example: { params: { events: ['payment.*', 'order.closed'], enabled: true } },
      data: Success,
      errors: [ENDPOINT_FIELDS, NO_ENDPOINT, ADMIN],
      handler: async (request) => {
        await service.updateEndpoint(
          request.database,
          contextOf(request),
          request.server.webhookConfig,
          request.params.uid,
          request.body.params,
        );
        return { data: { success: true as const } };
      },
    }),
    route({
      method: 'DELETE',
      url: '/webhook-endpoints/:uid',
      operationId: 'deleteWebhookEndpoint',
      summary: 'Delete a webhook endpoint and its pending deliveries (admin)',
      description:
        'Nothing more is sent to it, not even deliveries already due; its delivery history ' +
        'goes with it (API.md §7.2). To pause instead, set `enabled` to false.',
      params: IdPath,
      data: Success,
      errors: [NO_ENDPOINT, ADMIN],
      handler: async (request) => {
        await service.deleteEndpoint(request.database, contextOf(request), request.params.uid);
        return { data: { success: true as const } };
      },
    }),
    route({
      method: 'POST',
      url: '/webhook-endpoints/:uid/rotate-secret',
      operationId: 'rotateWebhookSecret',
      summary: 'A new secret; the previous one keeps signing beside it for 24 h (admin)',
      description:
        'Answers the new `secret` (shown only here). For 24 h deliveries carry two signatures, ' +
        'one per secret, so receivers can switch without missing one (API.md §7.2).',
      params: IdPath,
      data: Secret,
      errors: [NO_ENDPOINT, ADMIN],
      handler: async (request) => ({
        data: await service.rotateSecret(request.database, contextOf(request), request.params.uid),
      }),
    }),
    route({
      method: 'POST',
      url: '/webhook-endpoints/:uid/test',
      operationId: 'testWebhookEndpoint',
      summary: 'Send a webhook.test event to this endpoint alone (admin)',
      description:
        'Checks a receiver end to end: a `webhook.test` event (not in the feed) is delivered ' +
        'to this endpoint like any other, with retries; its delivery appears under ' +
        '`/deliveries` with `eventId` as answered here (API.md §7.2).',
      params: IdPath,
      data: TestSent,
      errors: [NO_ENDPOINT, ADMIN],
      handler: async (request) => ({
        data: {
          success: true as const,
          ...(await service.testEndpoint(request.database, contextOf(request), request.params.uid)),
        },
      }),
    }),
    route({
      method: 'GET',
      url: '/webhook-endpoints/:uid/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: "An endpoint's deliveries, newest first (admin)",
      description:
        'Each delivery of an event to this endpoint: `status` (pending, succeeded, failed), ' +
        'attempts, the last answer (`lastStatusCode`, up to 1 KB of `lastError`) and when the ' +
        `next attempt is due; filter by \`status\` (API.md §7.2, §7.3). ${PAGING}`,
      params: IdPath,
      querystring: DeliveryListQuery,
      data: Page(DeliverySchema),
      errors: [BAD_CURSOR, NO_ENDPOINT, ADMIN],
      handler: async (request) => ({
        data: await service.listDeliveries(
          request.database,
          contextOf(request),
          request.params.uid,
          request.query,
        ),
      }),
    }),
    route({
      method: 'POST',
      url: '/webhook-endpoints/:uid/deliveries/:deliveryId/retry',
      operationId: 'retryWebhookDelivery',
      summary: 'Schedule a new attempt of a delivery now (admin)',
      description:
        'The delivery is pending again and due now, also when it had failed for good (API.md ' +
        '§7.2); the worker makes the attempt within moments. The receiver sees the same ' +
        '`webhook-id` as before, so it can de-duplicate.',
      params: DeliveryPath,
      data: Success,
      errors: [
        ['NOT_FOUND', 'No such webhook endpoint, or no delivery with this id to that endpoint.'],
        ADMIN,
      ],
      handler: async (request) => {
        await service.retryDelivery(
          request.database,
          contextOf(request),
          request.params.uid,
          request.params.deliveryId,
        );
        return { data: { success: true as const } };
      },
    }),
  ],
});
