// Organizations (API.md §3.1): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import { callerOfRequest, contextOf } from '../http/auth.ts';
import { route, routes } from '../http/route.ts';
import { IdPath, Page, PageQuery, Success } from '../http/schemas.ts';
import {
  CreateOrganizationBody,
  OrganizationSchema,
  UpdateOrganizationBody,
} from './organizations.schemas.ts';
import * as service from './organizations.service.ts';

/** Under /v1/admin (admin keys). */
export const organizationAdminRoutes = routes({
  auth: 'admin',
  tags: ['administration'],
  routes: [
    route({
      method: 'POST',
      url: '/organizations',
      operationId: 'createOrganization',
      summary: 'Create an organization (all-organizations admin key)',
      description: 'The currency is fixed at creation and sets the decimals of every amount.',
      body: CreateOrganizationBody,
      example: { params: { name: 'Al Noor Bakery', currency: 'KWD', maxPaymentsPerOrder: 100 } },
      data: Type.Object({ id: Type.String() }),
      errors: [['FORBIDDEN', 'Only an admin key for all organizations may create one.']],
      handler: async (request) => {
        const org = await service.createOrganization(
          request.database,
          callerOfRequest(request),
          request.body.params,
        );
        return { data: { id: org.id } };
      },
    }),
    route({
      method: 'GET',
      url: '/organizations',
      operationId: 'listOrganizations',
      summary: 'List the organizations this key may use',
      querystring: PageQuery,
      data: Page(OrganizationSchema),
      errors: [],
      handler: async (request) => ({
        data: await service.listOrganizations(
          request.database,
          callerOfRequest(request),
          request.query,
        ),
      }),
    }),
    route({
      method: 'GET',
      url: '/organizations/:uid',
      operationId: 'getOrganizationById',
      summary: 'Get an organization',
      params: IdPath,
      data: Type.Object({ organization: OrganizationSchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          organization: await service.getOrganization(
            request.database,
            callerOfRequest(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/organizations/:uid',
      operationId: 'updateOrganization',
      summary: 'Rename an organization or change its settings (the currency is fixed)',
      params: IdPath,
      body: UpdateOrganizationBody,
      example: { params: { name: 'Al Noor Bakery — Salmiya', maxPaymentsPerOrder: 200 } },
      data: Success,
      errors: [],
      handler: async (request) => {
        await service.updateOrganization(
          request.database,
          callerOfRequest(request),
          request.params.uid,
          request.body.params,
        );
        return { data: { success: true as const } };
      },
    }),
  ],
});

/** Under /v1/om: the organization named by the organization-id header. */
export const organizationRoutes = routes({
  auth: 'organization',
  tags: ['organization'],
  routes: [
    route({
      method: 'GET',
      url: '/organization',
      operationId: 'getOrganization',
      summary: 'The calling organization: its currency and settings',
      data: Type.Object({ organization: OrganizationSchema }),
      errors: [],
      handler: async (request) => {
        const ctx = contextOf(request);
        return {
          data: {
            organization: await service.getOrganization(request.database, ctx, ctx.organization.id),
          },
        };
      },
    }),
  ],
});
