// Builds the Fastify app from config and an open database (used by server, CLI and tests).
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Config } from './config.ts';
import type { Database } from './db/engine.ts';
import { AppError } from './errors.ts';
import { apiKeyAdminRoutes } from './api-keys/api-keys.routes.ts';
import type { KeyForOrganization } from './api-keys/api-keys.service.ts';
import { AuthCache } from './api-keys/auth-cache.ts';
import { listenForAuthChanges } from './api-keys/auth-invalidation.ts';
import { adminAuth, callerOfRequest, contextOf, organizationAuth } from './http/auth.ts';
import { registerIdempotency } from './http/idempotency.ts';
import { APP_NAME, INSTANCE_ID, ok, requestIdFrom } from './http/envelope.ts';
import {
  clientErrorHandler,
  frameworkErrors,
  refuseNulInUrl,
  registerErrorHandling,
} from './http/error-handler.ts';
import { registerJsonBodyParser } from './http/json-body.ts';
import { registerMetrics, registerRateLimit } from './http/operations.ts';
import { Envelope, ErrorEnvelope, OptionalParamsBody } from './http/schemas.ts';
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
import { startDeliveryWorker } from './webhooks/webhooks.worker.ts';
import { reportRoutes } from './reports/reports.routes.ts';
import { consoleRoutes } from './console/console.routes.ts';

/** Key-and-organization pairs whose authentication is kept (oldest dropped first). */
const AUTH_CACHE_ENTRIES = 10_000;

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
  await registerMetrics(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: APP_NAME,
        version: '1',
        description:
          'Payments of an order-management platform. Every call under /v1/om/ needs the ' +
          '`api-key` and `organization-id` headers; bodies of POST and PATCH are `{"params": {...}}`.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'api-key' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const Status = Envelope(Type.Object({ status: Type.String(), instanceId: Type.String() }));
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process is up',
        security: [],
        response: { 200: Status },
      },
    },
    async (request) => ok(request.id, { status: 'ok', instanceId: INSTANCE_ID }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database is reachable',
        security: [],
        response: { 200: Status, 503: ErrorEnvelope },
      },
    },
    async (request) => {
      try {
        await database.ping();
      } catch {
        throw new AppError('SERVICE_UNAVAILABLE');
      }
      return ok(request.id, { status: 'ok', instanceId: INSTANCE_ID });
    },
  );
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

  await app.register(
    async (om) => {
      om.addHook('onRequest', organizationAuth(database, config.maxAmountMajor, authCache));
      registerIdempotency(om, database, (request) => contextOf(request).organization.id);
      await om.register(organizationRoutes());
      await om.register(orderRoutes());
      await om.register(paymentMethodRoutes());
      await om.register(invoiceRoutes());
      await om.register(paymentRoutes());
      await om.register(eventRoutes(eventSignal));
      await om.register(webhookRoutes(config.webhooks));
      await om.register(reportRoutes());
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
      await admin.register(organizationAdminRoutes());
      await admin.register(apiKeyAdminRoutes());
    },
    { prefix: '/v1/admin' },
  );
  return app;
}
