import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOfRequest } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { IdPath, Page, PageQuery, Success, responses } from '../http/schemas.ts';
import { ApiKeySchema, CreateApiKeyBody, CreatedApiKey } from './api-keys.schemas.ts';
import * as service from './api-keys.service.ts';

const tags = ['administration'];

/** Under /v1/admin (admin keys). */
export function apiKeyAdminRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api-keys',
      {
        schema: {
          tags,
          summary: 'Issue an api key (the secret is returned once)',
          body: CreateApiKeyBody,
          response: responses(CreatedApiKey),
        },
      },
      async (request) => {
        const { apiKey, secret } = await service.createApiKey(
          request.database,
          callerOfRequest(request),
          request.body.params,
        );
        return ok(request.id, { id: apiKey.id, secret, apiKey });
      },
    );
    app.get(
      '/api-keys',
      {
        schema: {
          tags,
          summary: 'List api keys',
          querystring: PageQuery,
          response: responses(Page(ApiKeySchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listApiKeys(request.database, callerOfRequest(request), request.query),
        ),
    );
    app.get(
      '/api-keys/:uid',
      {
        schema: {
          tags,
          summary: 'Get an api key',
          params: IdPath,
          response: responses(Type.Object({ apiKey: ApiKeySchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          apiKey: await service.getApiKey(
            request.database,
            callerOfRequest(request),
            request.params.uid,
          ),
        }),
    );
    app.patch(
      '/api-keys/:uid/revoke',
      {
        schema: {
          tags,
          summary: 'Revoke an api key at once',
          params: IdPath,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.revokeApiKey(request.database, callerOfRequest(request), request.params.uid);
        return ok(request.id, { success: true as const });
      },
    );
  };
}
