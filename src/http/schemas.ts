// Shared TypeBox pieces: the envelopes, the `params` wrapper, audit fields, limits on strings.
import { Type, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';

/** Upper bounds for free text (DESIGN habit 12: a limit on everything). */
export const MAX_NAME = 200;
export const MAX_ID = 64;

export const Id = Type.String({ minLength: 1, maxLength: MAX_ID });
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME });

/** POST/PATCH bodies are `{"params": {...}}`; unknown properties are rejected at both levels. */
export function ParamsBody<P extends TProperties>(properties: P) {
  return Type.Object(
    { params: Type.Object(properties, { additionalProperties: false }) },
    { additionalProperties: false },
  );
}

/** A body that may be left out entirely (`{"params": {...}}`, `{}` or nothing at all). */
export function OptionalParamsBody<P extends TProperties>(properties: P) {
  return Type.Union([
    Type.Object(
      { params: Type.Optional(Type.Object(properties, { additionalProperties: false })) },
      { additionalProperties: false },
    ),
    Type.Null(),
  ]);
}

export const Warning = Type.Object(
  { code: Type.String(), message: Type.String() },
  { additionalProperties: true },
);

export function Envelope<T extends TSchema>(data: T) {
  return Type.Object({
    app: Type.String(),
    service: Type.String(),
    warnings: Type.Array(Warning),
    instanceId: Type.String(),
    requestId: Type.String(),
    data,
  });
}

export const ErrorEnvelope = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  }),
  requestId: Type.String(),
});

export const Success = Type.Object({ success: Type.Literal(true) });

export const AuditSchemaFields = {
  createdAt: Type.String({ format: 'date-time' }),
  createdVia: Type.String(),
  createdBy: Type.String(),
  updatedAt: Type.String({ format: 'date-time' }),
  updatedVia: Type.String(),
  updatedBy: Type.String(),
};

export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);

/**
 * A list's query string: page parameters, the created range (`createdFrom` inclusive,
 * `createdTo` exclusive, ISO-8601 with a time zone) and the list's own filters.
 */
export function ListQuery<P extends TProperties>(filters: P) {
  return Type.Object(
    {
      ...PageQuery.properties,
      createdFrom: Type.Optional(Type.String({ format: 'date-time' })),
      createdTo: Type.Optional(Type.String({ format: 'date-time' })),
      ...filters,
    },
    { additionalProperties: false },
  );
}

export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), next: Type.Union([Type.String(), Type.Null()]) });
}

/**
 * An id in the path: any length the router accepts, so an overlong id is simply not found
 * (404), like every other id that does not exist.
 */
export const IdPath = Type.Object(
  { uid: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

/** The documented responses every route may give besides its 200. */
export function responses<T extends TSchema>(data: T): Record<number, TSchema> {
  const error = ErrorEnvelope;
  return {
    200: Envelope(data),
    400: error,
    401: error,
    403: error,
    404: error,
    413: error,
    415: error,
    500: error,
    503: error,
  };
}

export const OrgHeaders = Type.Object({
  'organization-id': Type.String({ description: 'The organization the call acts on.' }),
});

export type { TObject };
