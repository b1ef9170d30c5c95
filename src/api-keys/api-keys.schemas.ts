import { Type } from '@sinclair/typebox';
import { ROLES } from '../db/schema.ts';
import { AuditSchemaFields, Id, Name, ParamsBody } from '../http/schemas.ts';

export const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const Organizations = Type.Union(
  [Type.Literal('all'), Type.Array(Id, { minItems: 1, maxItems: 100 })],
  { description: '"all", or the ids of the organizations the key may act on.' },
);

export const ApiKeySchema = Type.Object(
  {
    id: Id,
    name: Type.String(),
    principal: Type.String(),
    via: Type.String(),
    role: RoleSchema,
    organizations: Type.Union([Type.Literal('all'), Type.Array(Type.String())]),
    secretPrefix: Type.String(),
    revokedAt: Type.Union([Type.String(), Type.Null()]),
    ...AuditSchemaFields,
  },
  { $id: 'ApiKey' },
);

export const CreateApiKeyBody = ParamsBody({
  name: Name,
  role: RoleSchema,
  organizations: Organizations,
  principal: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'Recorded as createdBy/updatedBy (default: the name).',
    }),
  ),
  via: Type.Optional(
    Type.String({
      pattern: '^[a-z0-9._-]{1,32}$',
      description: 'Channel label recorded as createdVia, e.g. pos, web, api (default api).',
    }),
  ),
});

export const CreatedApiKey = Type.Object({
  id: Type.String(),
  secret: Type.String({ description: 'Shown once; only a hash is stored.' }),
  apiKey: ApiKeySchema,
});
