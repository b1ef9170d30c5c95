// Shared TypeBox pieces: the envelopes, the `params` wrapper, audit fields, limits on strings.
import {
  OptionalKind,
  Type,
  type TObject,
  type TOptional,
  type TProperties,
  type TSchema,
  type TUnion,
} from '@sinclair/typebox';

/** Upper bounds for free text (DESIGN habit 12: a limit on everything). */
export const MAX_NAME = 200;
export const MAX_ID = 64;

export const Id = Type.String({ minLength: 1, maxLength: MAX_ID });
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME });

/**
 * Bodies of creates and actions whose absent fields mean "not given" (API.md §1): every
 * optional field also accepts `null`, which means the same as leaving it out — a client that
 * sends back what it read (`sourcePaymentId: null`, `note: null` …) is understood. The
 * nulls are removed before the handler runs (`normalizeNulls`, called by src/http/route.ts),
 * so services only ever see absent fields; the static type is therefore the one without
 * nulls. Unknown properties are rejected at both levels.
 */
export function ParamsBody<P extends TProperties>(properties: P): TObject<{ params: TObject<P> }> {
  const schema = Type.Object(
    { params: Type.Object(nullableOptionals(properties), { additionalProperties: false }) },
    { additionalProperties: false },
  );
  NULL_MEANS_ABSENT.add(schema);
  return schema as unknown as TObject<{ params: TObject<P> }>;
}

/**
 * Bodies of updates (PATCH of a resource): a field accepts `null` only where its schema
 * says so, and there `null` clears it (API.md §1); `null` for any other field is
 * InvalidParameter. Unknown properties are rejected at both levels.
 */
export function PatchBody<P extends TProperties>(properties: P) {
  return Type.Object(
    { params: Type.Object(properties, { additionalProperties: false }) },
    { additionalProperties: false },
  );
}

/**
 * A body that may be left out entirely (`{"params": {...}}`, `{}` or nothing at all), of
 * actions (confirm, close, send): like ParamsBody, `null` means absent.
 */
export function OptionalParamsBody<P extends TProperties>(properties: P) {
  const schema = Type.Union([
    Type.Object(
      {
        params: Type.Optional(
          Type.Object(nullableOptionals(properties), { additionalProperties: false }),
        ),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ]);
  NULL_MEANS_ABSENT.add(schema);
  return schema as unknown as TUnion<
    [TObject<{ params: TOptional<TObject<P>> }>, ReturnType<typeof Type.Null>]
  >;
}

const NULL_MEANS_ABSENT = new WeakSet<TSchema>();

/** The same properties with every optional one also accepting null. */
function nullableOptionals(properties: TProperties): TProperties {
  const result: TProperties = {};
  for (const [name, schema] of Object.entries(properties)) {
    const optional = (schema as unknown as Record<symbol, unknown>)[OptionalKind] === 'Optional';
    result[name] =
      optional && !acceptsNull(schema)
        ? Type.Optional(Type.Union([Type.Optional(schema, false), Type.Null()]))
        : schema;
  }
  return result;
}

function acceptsNull(schema: TSchema): boolean {
  if (schema.type === 'null') return true;
  const members = (schema as { anyOf?: TSchema[] }).anyOf;
  return members !== undefined && members.some(acceptsNull);
}

/**
 * For a body schema made by ParamsBody/OptionalParamsBody: the function removing the
 * `null` fields of `params` (they mean absent). Undefined for other bodies.
 */
export function normalizeNulls(body: TSchema): ((value: unknown) => void) | undefined {
  if (!NULL_MEANS_ABSENT.has(body)) return undefined;
  return (value) => {
    const params = (value as { params?: unknown } | null | undefined)?.params;
    if (typeof params !== 'object' || params === null) return;
    const record = params as Record<string, unknown>;
    for (const key of Object.keys(record)) if (record[key] === null) delete record[key];
  };
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

export const OrgHeaders = Type.Object({
  'organization-id': Type.String({ description: 'The organization the call acts on.' }),
});

export type { TObject };
