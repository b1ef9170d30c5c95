// TypeBox schemas of webhook endpoints and deliveries (API.md §7.2).
import { Type } from '@sinclair/typebox';
import { DELIVERY_STATUSES } from '../db/schema.ts';
import { AuditSchemaFields, Id, PageQuery, ParamsBody } from '../http/schemas.ts';
import { MAX_DESCRIPTION, MAX_EVENT_PATTERNS, MAX_URL_LENGTH } from './webhooks.rules.ts';

const Url = Type.String({
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  examples: ['https://erp.example.com/hooks/om'],
});
const Events = Type.Union(
  [
    Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
      minItems: 1,
      maxItems: MAX_EVENT_PATTERNS,
    }),
    Type.Null(),
  ],
  {
    description: 'Exact types or prefixes ending in `.*`; absent or null = every event.',
    examples: [['payment.*', 'invoice.sent']],
  },
);
const Description = Type.Union([Type.String({ maxLength: MAX_DESCRIPTION }), Type.Null()]);

export const CreateEndpointBody = ParamsBody({
  url: Url,
  events: Type.Optional(Events),
  description: Type.Optional(Description),
  enabled: Type.Optional(Type.Boolean()),
});

export const UpdateEndpointBody = ParamsBody({
  url: Type.Optional(Url),
  events: Type.Optional(Events),
  description: Type.Optional(Description),
  enabled: Type.Optional(Type.Boolean()),
});

export const EndpointSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Union([Type.Array(Type.String()), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  failingSince: Type.Union([Type.String(), Type.Null()]),
  ...AuditSchemaFields,
});

export const DeliverySchema = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  status: Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s))),
  attempts: Type.Integer(),
  lastAttemptAt: Type.Union([Type.String(), Type.Null()]),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const DeliveryListQuery = Type.Object(
  {
    ...PageQuery.properties,
    status: Type.Optional(Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s)))),
  },
  { additionalProperties: false },
);

export const DeliveryPath = Type.Object(
  {
    uid: Type.String({ minLength: 1, maxLength: 200 }),
    deliveryId: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

export const Created = Type.Object({ id: Id, secret: Type.String() });
export const Secret = Type.Object({ secret: Type.String() });
export const TestSent = Type.Object({ success: Type.Literal(true), eventId: Type.String() });
