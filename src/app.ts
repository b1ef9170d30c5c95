// Builds the Fastify app from config and an open database (used by server, CLI and tests).
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.ts';
import type { Database } from './db/engine.ts';
import { apiKeyAdminRoutes } from './api-keys/api-keys.routes.ts';
import type { KeyForOrganization } from './api-keys/api-keys.service.ts';
import { AuthCache } from './api-keys/auth-cache.ts';
import { listenForAuthChanges } from './api-keys/auth-invalidation.ts';
import { adminAuth, callerOfRequest, contextOf, organizationAuth } from './http/auth.ts';
import { registerIdempotency } from './http/idempotency.ts';
import { APP_NAME, requestIdFrom } from './http/envelope.ts';
import {
  clientErrorHandler,
  frameworkErrors,
  refuseNulInUrl,
  registerErrorHandling,
} from './http/error-handler.ts';
import { registerJsonBodyParser } from './http/json-body.ts';
import { registerMetrics, registerRateLimit } from './http/operations.ts';
import { OptionalParamsBody } from './http/schemas.ts';
import type { RouteAuth, RoutePlugin } from './http/route.ts';
import { OPENAPI_TAGS, operationsRoutes } from './http/operations.routes.ts';
import { validatorCompiler } from './http/validation.ts';
import {
  organizationAdminRoutes,
  organizationRoutes,
} from './organizations/organizations.routes.ts';
import { orderRoutes } from './orders/orders.routes.ts';
import { paymentMethodRoutes } from './payment-methods/payment-methods.routes.ts';
import { invoiceRoutes } from './invoices/invoices.routes.ts';
import { paymentRoutes } from './payments/payments.routes.ts';
import { EventSignal } from './events/event-signal.ts';
import { eventRoutes } from './events/events.routes.ts';
import { webhookRoutes } from './webhooks/webhooks.routes.ts';
import { pendingDeliveries } from './webhooks/webhooks.service.ts';
import { startDeliveryWorker } from './webhooks/webhooks.worker.ts';
import { reportRoutes } from './reports/reports.routes.ts';
import { consoleRoutes } from './console/console.routes.ts';

/** Key-and-organization pairs whose authentication is kept (oldest dropped first). */
const AUTH_CACHE_ENTRIES = 10_000;

/**
 * A body that may be left out (its schema accepts null: confirm, close, cancel …) is not
 * `required` — @fastify/swagger marks every body required, and generated clients follow.
 */
function optionalBodiesOptional<T>(document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const body = (operation as { requestBody?: { required?: boolean; content?: unknown } })
        .requestBody;
      const schema = (body?.content as Record<string, { schema?: { anyOf?: unknown[] } }>)?.[
        'application/json'
      ]?.schema;
      if (body && schema?.anyOf?.some((s) => (s as { type?: unknown }).type === 'null')) {
        body.required = false;
      }
    }
  }
  return document;
}

/**
 * A query parameter with a default (`limit`, the feed's `wait`) may be left out: the
 * validator fills it in. @fastify/swagger marks it required because the schema lists it
 * (so the handler's type has it), and generated clients would then demand it.
 */
function defaultedParametersOptional<T>(document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const parameters = (operation as { parameters?: unknown }).parameters;
      if (!Array.isArray(parameters)) continue;
      for (const parameter of parameters as {
        in?: string;
        required?: boolean;
        schema?: { default?: unknown };
      }[]) {
        if (parameter.in === 'query' && parameter.schema?.default !== undefined) {
          delete parameter.required;
        }
      }
    }
  }
  return document;
}

/**
 * Every group of routes, by where it is mounted (`PREFIX_OF` in src/http/route.ts): a new
 * group joins here, and test/openapi.test.ts checks its declarations against the document.
 */
export const ROUTE_GROUPS: Record<RouteAuth, RoutePlugin[]> = {
  public: [operationsRoutes],
  organization: [
    organizationRoutes,
    orderRoutes,
    paymentMethodRoutes,
    invoiceRoutes,
    paymentRoutes,
    reportRoutes,
    eventRoutes,
    webhookRoutes,
  ],
  admin: [organizationAdminRoutes, apiKeyAdminRoutes],
};

export interface AppOptions {
  config: Config;
  database: Database;
  /** Pino options, or false for silence (tests). */
  logger?: boolean | Record<string, unknown>;
}

export async function buildApp({ config, database, logger }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ?? {
      level: config.logLevel,
      // Secrets never reach the logs, even if a serializer starts including headers.
      redact: ['req.headers["api-key"]', 'req.headers.authorization'],
    },
    bodyLimit: config.bodyLimit,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    return503OnClosing: true,
    frameworkErrors,
    clientErrorHandler,
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // A write that takes no parameters (close, cancel, delete, revoke …) still refuses unknown
  // ones (API.md §1): its body may be absent, `{}` or `{"params": {}}`, nothing else.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (
      route.schema?.body === undefined &&
      methods.some((m) => ['POST', 'PATCH', 'DELETE'].includes(m))
    ) {
      route.schema = { ...route.schema, body: OptionalParamsBody({}) };
    }
  });
  registerJsonBodyParser(app);
  app.decorateRequest('caller', null);
  app.decorateRequest('ctx', null);
  // Set by the first onRequest hook (below), before anything reads it.
  app.decorateRequest('database', null as unknown as Database);
  app.addHook('onRequest', async (request, reply) => {
    request.database = database;
    reply.header('x-request-id', request.id);
    refuseNulInUrl(request.url);
  });
  registerErrorHandling(app, config.retryAfterSeconds);
  await registerRateLimit(app, config.rateLimitPerMinute);
  await registerMetrics(app, config.metrics, {
    // The backlog is the database's (shared by every instance), counted at each scrape.
    pendingDeliveries: () => pendingDeliveries(database),
  });

  await app.register(swagger, {
    transformObject: (document) =>
      'openapiObject' in document
        ? defaultedParametersOptional(optionalBodiesOptional(document.openapiObject))
        : document.swaggerObject,
    openapi: {
      openapi: '3.1.0',
      info: {
        title: APP_NAME,
        version: '1',
        description:
          'Payments of an order-management platform. Every call under /v1/om/ needs the ' +
          '`api-key` and `organization-id` headers (under /v1/admin/ only `api-key`); bodies of ' +
          'POST and PATCH are `{"params": {...}}`, where `null` for an optional field means ' +
          'absent on create and clears it on update where that is allowed. Success answers ' +
          '`{app, service, warnings, instanceId, requestId, data}`; errors ' +
          '`{error: {code, message, details?}, requestId}` — each operation lists its codes ' +
          '(`x-error-codes` and a table). Every write accepts an `Idempotency-Key` header. ' +
          'Requests whose headers are too large (431) or that arrive too slowly (408) are ' +
          'refused before routing.',
      },
      servers: [{ url: '/', description: 'This service' }],
      tags: OPENAPI_TAGS,
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'api-key',
            description: 'A secret issued by the service (shown once).',
          },
          organizationId: {
            type: 'apiKey',
            in: 'header',
            name: 'organization-id',
            description: 'The organization the call acts on; the key must be allowed for it.',
          },
        },
      },
      security: [{ apiKey: [], organizationId: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  for (const group of ROUTE_GROUPS.public) await app.register(group);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await consoleRoutes(app);

  // Authentication answers are kept while this process learns of every change to keys and
  // organizations (src/api-keys/auth-cache.ts): PostgreSQL tells it, SQLite is asked.
  const storage = config.database;
  const authCache =
    config.authCacheTtlMs > 0
      ? new AuthCache<KeyForOrganization>(config.authCacheTtlMs, AUTH_CACHE_ENTRIES, {
          counted: storage.engine === 'sqlite',
        })
      : undefined;
  if (authCache !== undefined && storage.engine === 'postgres') {
    const listener = listenForAuthChanges(storage.url, authCache, (message) =>
      app.log.warn(message),
    );
    app.addHook('onClose', () => listener.close());
  } else {
    // Every use reads the count of changes first: nothing to wait for.
    authCache?.setEnabled(true);
  }

  // Events (API.md §7): waiters on the feed and the delivery worker wake on commits.
  const eventSignal = new EventSignal(
    database,
    storage.engine === 'postgres' ? storage.url : undefined,
    (message) => app.log.warn(message),
  );
  if (config.webhooks.worker) {
    const worker = startDeliveryWorker(database, eventSignal, config.webhooks, app.log);
    app.addHook('onClose', () => worker.close());
  }
  app.addHook('onClose', () => eventSignal.close());
  // What the feed and webhook routes need beside the request's database, handed the Fastify
  // way (declared in src/events/events.routes.ts and src/webhooks/webhooks.routes.ts).
  app.decorate('eventSignal', eventSignal);
  app.decorate('webhookConfig', config.webhooks);

  await app.register(
    async (om) => {
      om.addHook('onRequest', organizationAuth(database, config.maxAmountMajor, authCache));
      registerIdempotency(om, database, (request) => contextOf(request).organization.id);
      for (const group of ROUTE_GROUPS.organization) await om.register(group);
    },
    { prefix: '/v1/om' },
  );
  await app.register(
    async (admin) => {
      admin.addHook('onRequest', adminAuth(database));
      // A change made here is forgotten before it is answered, so this instance never serves
      // an older answer to a request sent after it; others hear of it by notice.
      admin.addHook('onSend', async (request) => {
        if (request.method !== 'GET' && request.method !== 'HEAD') authCache?.invalidate();
      });
      registerIdempotency(
        admin,
        database,
        (request) => `admin:${callerOfRequest(request).keyId ?? ''}`,
      );
      for (const group of ROUTE_GROUPS.admin) await admin.register(group);
    },
    { prefix: '/v1/admin' },
  );
  return app;
}
