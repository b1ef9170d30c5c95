// Api keys (API.md §3.1): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import { callerOfRequest } from '../http/auth.ts';
import { route, routes } from '../http/route.ts';
import { IdPath, Page, PageQuery, Success } from '../http/schemas.ts';
import { ApiKeySchema, CreateApiKeyBody, CreatedApiKey } from './api-keys.schemas.ts';
import * as service from './api-keys.service.ts';

/** Under /v1/admin (admin keys). */
export const apiKeyAdminRoutes = routes({
  auth: 'admin',
  tags: ['administration'],
  routes: [
    route({
      method: 'POST',
      url: '/api-keys',
      operationId: 'createApiKey',
      summary: 'Issue an api key (the secret is returned once)',
      description: 'Only a hash of the secret is stored.',
      body: CreateApiKeyBody,
      example: {
        params: {
          name: 'Till 3, Salmiya',
          role: 'cashier',
          organizations: ['01934f6e-1c2d-7e3f-8a4b-5c6d7e8f9a0b'],
          principal: 'till-3@salmiya',
          via: 'pos',
        },
      },
      data: CreatedApiKey,
      errors: [
        [
          'FORBIDDEN',
          'Not an admin key, or a key for all organizations asked of a key that is not one.',
        ],
      ],
      handler: async (request) => {
        const { apiKey, secret } = await service.createApiKey(
          request.database,
          callerOfRequest(request),
          request.body.params,
        );
        return { data: { id: apiKey.id, secret, apiKey } };
      },
    }),
    route({
      method: 'GET',
      url: '/api-keys',
      operationId: 'listApiKeys',
      summary: 'List api keys',
      querystring: PageQuery,
      data: Page(ApiKeySchema),
      errors: [],
      handler: async (request) => ({
        data: await service.listApiKeys(request.database, callerOfRequest(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/api-keys/:uid',
      operationId: 'getApiKey',
      summary: 'Get an api key',
      params: IdPath,
      data: Type.Object({ apiKey: ApiKeySchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          apiKey: await service.getApiKey(
            request.database,
            callerOfRequest(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/api-keys/:uid/revoke',
      operationId: 'revokeApiKey',
      summary: 'Revoke an api key at once',
      params: IdPath,
      data: Success,
      errors: [],
      handler: async (request) => {
        await service.revokeApiKey(request.database, callerOfRequest(request), request.params.uid);
        return { data: { success: true as const } };
      },
    }),
  ],
});
