// Thin routes: schema in, one service call, envelope out.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOfRequest, contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { IdPath, OrgHeaders, Page, PageQuery, Success, responses } from '../http/schemas.ts';
import {
  CreateOrganizationBody,
  OrganizationSchema,
  UpdateOrganizationBody,
} from './organizations.schemas.ts';
import * as service from './organizations.service.ts';

const tags = ['administration'];

/** Under /v1/admin (admin keys). */
export function organizationAdminRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/organizations',
      {
        schema: {
          tags,
          summary: 'Create an organization (all-organizations admin key)',
          body: CreateOrganizationBody,
          response: responses(Type.Object({ id: Type.String() })),
        },
      },
      async (request) => {
        const org = await service.createOrganization(
          request.database,
          callerOfRequest(request),
          request.body.params,
        );
        return ok(request.id, { id: org.id });
      },
    );
    app.get(
      '/organizations',
      {
        schema: {
          tags,
          summary: 'List the organizations this key may use',
          querystring: PageQuery,
          response: responses(Page(OrganizationSchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listOrganizations(
            request.database,
            callerOfRequest(request),
            request.query,
          ),
        ),
    );
    app.get(
      '/organizations/:uid',
      {
        schema: {
          tags,
          summary: 'Get an organization',
          params: IdPath,
          response: responses(Type.Object({ organization: OrganizationSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          organization: await service.getOrganization(
            request.database,
            callerOfRequest(request),
            request.params.uid,
          ),
        }),
    );
    app.patch(
      '/organizations/:uid',
      {
        schema: {
          tags,
          summary: 'Rename an organization or change its settings (the currency is fixed)',
          params: IdPath,
          body: UpdateOrganizationBody,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.updateOrganization(
          request.database,
          callerOfRequest(request),
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, { success: true as const });
      },
    );
  };
}

/** Under /v1/om: the organization named by the organization-id header. */
export function organizationRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/organization',
      {
        schema: {
          tags: ['organization'],
          summary: 'The calling organization: its currency and settings',
          headers: OrgHeaders,
          response: responses(Type.Object({ organization: OrganizationSchema })),
        },
      },
      async (request) => {
        const ctx = contextOf(request);
        return ok(request.id, {
          organization: await service.getOrganization(request.database, ctx, ctx.organization.id),
        });
      },
    );
  };
}
