// The one way a route is declared (issue 19 item 3): a route file gives its schemas, the
// error codes it can answer, an example body and a handler returning `{data, warnings?}`;
// this helper adds everything every route shares — the envelope (API.md §1), the auth
// headers and security requirement, the transport errors each kind of route can meet
// (auth, rate limit, idempotency, body limits, database outage), the OpenAPI description
// with its table of error codes and `x-error-codes` list (§9), and null-as-absent for
// create bodies (§1). Idempotency itself is wired by src/http/idempotency.ts for every
// write of the scopes that register it; this helper documents its header and answers.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.ts';
import { businessMetricsOn, paymentWrites, paymentWrittenBy } from '../shared/metrics.ts';
import type { Warning } from '../shared/warnings.ts';
import { ok } from './envelope.ts';
import { Envelope, ErrorEnvelope, OrgHeaders, normalizeNulls } from './schemas.ts';

/** Who may call: an organization key (`/v1/om`), an admin key (`/v1/admin`), anyone. */
export type RouteAuth = 'organization' | 'admin' | 'public';

type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** A code the route can answer, optionally with what it means on this route. */
export type DeclaredError = ErrorCode | readonly [ErrorCode, string];

type StaticOf<T> = T extends TSchema ? Static<T> : undefined;

/** What a handler returns: the envelope's `data` and its warnings. */
export interface Answer<T> {
  data: T;
  warnings?: Warning[];
}

export type RouteRequest<P, Q, B, H> = FastifyRequest<{
  Params: StaticOf<P>;
  Querystring: StaticOf<Q>;
  Body: StaticOf<B>;
  Headers: StaticOf<H>;
}>;

export interface RouteDefinition<
  P extends TSchema | undefined = TSchema | undefined,
  Q extends TSchema | undefined = TSchema | undefined,
  B extends TSchema | undefined = TSchema | undefined,
  H extends TSchema | undefined = TSchema | undefined,
  D extends TSchema = TSchema,
  A extends TSchema | undefined = TSchema | undefined,
> {
  method: HttpMethod;
  /** Relative to the group's prefix, Fastify syntax (`/payments/:uid`). */
  url: string;
  /** Unique and stable: generated clients name their calls by it. */
  operationId: string;
  summary: string;
  /** Prose before the error table: when to call it, what it answers. */
  description?: string;
  /** Defaults to the group's tags. */
  tags?: string[];
  /** Extra headers beside the auth headers (which are added by the group). */
  headers?: H;
  params?: P;
  querystring?: Q;
  body?: B;
  /** A realistic request body (validated against `body` by the OpenAPI lint). */
  example?: unknown;
  /** `data` of the 200 answer: it serializes the answer and documents it. */
  data: D;
  /**
   * Another shape `data` may take, documented beside `data` (as `anyOf`) but not used to
   * serialize: the handler sends such answers past the schema (e.g. `Prefer:
   * return=minimal`, src/http/prefer.ts), so the common answer keeps its fast serializer.
   */
  alternativeData?: A;
  /**
   * The business codes the route's service can answer (400s and route-specific 403/404).
   * Transport codes every route of its kind can meet are added by the helper.
   */
  errors: readonly DeclaredError[];
  /** Counted in `om_payment_writes_total` under this operation (src/shared/metrics.ts). */
  paymentWrite?: boolean;
  handler: (
    request: RouteRequest<P, Q, B, H>,
    reply: FastifyReply,
  ) => Promise<Answer<Static<D> | StaticOf<A>>> | Answer<Static<D> | StaticOf<A>>;
}

/** Typed by its schemas: `request.body`, `request.params`… follow them; so does `data`. */
export function route<
  P extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
  B extends TSchema | undefined = undefined,
  H extends TSchema | undefined = undefined,
  D extends TSchema = TSchema,
  A extends TSchema | undefined = undefined,
>(definition: RouteDefinition<P, Q, B, H, D, A>): RouteDefinition {
  return definition;
}

export interface RouteGroup {
  auth: RouteAuth;
  tags: string[];
  routes: RouteDefinition[];
}

const WRITES: ReadonlySet<HttpMethod> = new Set(['POST', 'PATCH', 'DELETE']);

/**
 * Every code a route can answer: its own, then those its kind of route meets anywhere
 * (src/http/auth.ts, idempotency.ts, operations.ts, error-handler.ts).
 */
export function errorCodesOf(group: Pick<RouteGroup, 'auth'>, definition: RouteDefinition) {
  const codes = new Map<ErrorCode, string>();
  const add = (code: ErrorCode, meaning?: string) => {
    if (!codes.has(code)) codes.set(code, meaning ?? ERROR_CATALOGUE[code].message);
  };
  for (const declared of definition.errors) {
    if (typeof declared === 'string') add(declared);
    else add(declared[0], declared[1]);
  }
  if (group.auth !== 'public') {
    add(
      'InvalidParameter',
      group.auth === 'organization'
        ? 'A parameter, header (e.g. organization-id) or body field is missing or invalid; `details.field` names it.'
        : 'A parameter or body field is missing or invalid; `details.field` names it.',
    );
    add('UNAUTHORIZED', 'The api-key header is missing, unknown or revoked.');
    add(
      'FORBIDDEN',
      group.auth === 'organization'
        ? 'The key may not act on this organization, or its role lacks the permission (`details.requiredRole`).'
        : 'The key is not an admin key, or may not act on this organization.',
    );
    add('RATE_LIMITED', 'Too many requests from this key; retry after `Retry-After` seconds.');
  }
  if (definition.url.includes(':')) {
    add('NOT_FOUND', 'Nothing with this id exists in this organization.');
  }
  if (WRITES.has(definition.method)) {
    add('PAYLOAD_TOO_LARGE');
    add('UNSUPPORTED_MEDIA_TYPE');
    add(
      'IDEMPOTENCY_IN_PROGRESS',
      'A request with the same Idempotency-Key is still running; retry it later for its answer.',
    );
    add(
      'IDEMPOTENCY_KEY_REUSED',
      'The Idempotency-Key was used before with another method, path or body.',
    );
  }
  add('INTERNAL', 'An unexpected error; the requestId identifies it in the logs.');
  if (group.auth !== 'public') {
    add('SERVICE_UNAVAILABLE', 'The database is unreachable; retry after `Retry-After` seconds.');
  }
  return [...codes]
    .map(([code, meaning]) => ({ code, status: ERROR_CATALOGUE[code].status, meaning }))
    .sort((a, b) => a.status - b.status);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Functional error: validation or a business rule',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  415: 'Unsupported media type',
  422: 'Idempotency key reused',
  429: 'Rate limited',
  500: 'Internal error',
  503: 'Database unavailable',
};

const SUCCESS = 'Success: the envelope, its `data` as below.';

const RETRY_AFTER = {
  'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' },
};

function errorResponses(codes: ReturnType<typeof errorCodesOf>): Record<number, TSchema> {
  const byStatus = new Map<number, string[]>();
  for (const { code, status } of codes)
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  const responses: Record<number, TSchema> = {};
  for (const [status, list] of byStatus) {
    const schema = Type.Object(
      {
        error: Type.Object({
          // A string with the codes as an enum: typed clients get the union, while the
          // serializer (which does not check enums) never turns an answer into a 500.
          code: Type.Unsafe<string>({ type: 'string', enum: list }),
          message: Type.String(),
          details: ErrorEnvelope.properties.error.properties.details,
        }),
        requestId: Type.String(),
      },
      {
        description: `${STATUS_TEXT[status] ?? 'Error'}: ${list.map((c) => `\`${c}\``).join(', ')}.`,
        ...((status === 429 || status === 503) && { headers: RETRY_AFTER }),
      },
    );
    responses[status] = schema;
  }
  return responses;
}

function describe(definition: RouteDefinition, codes: ReturnType<typeof errorCodesOf>): string {
  const rows = codes.map(({ code, status, meaning }) => `| ${status} | \`${code}\` | ${meaning} |`);
  return [
    ...(definition.description !== undefined ? [definition.description, ''] : []),
    '**Error codes**',
    '',
    '| Status | Code | Meaning |',
    '| --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const SECURITY: Record<RouteAuth, Record<string, string[]>[]> = {
  organization: [{ apiKey: [], organizationId: [] }],
  admin: [{ apiKey: [] }],
  public: [],
};

function withExample(body: TSchema | undefined, example: unknown): TSchema | undefined {
  if (body === undefined || example === undefined) return body;
  return { ...body, examples: [example] };
}

/** The headers of the route: the group's auth headers and its own. */
function headersOf(auth: RouteAuth, own: TSchema | undefined): TSchema | undefined {
  const ownProperties = (own as { properties?: Record<string, TSchema> } | undefined)?.properties;
  if (auth !== 'organization') return own;
  return Type.Object({ ...OrgHeaders.properties, ...ownProperties });
}

const CODE_IN_BODY = /"code":"([A-Za-z_]{1,40})"/;

/**
 * Counts one payment write when it is answered: the payment it left (type, status) on
 * success, else the error code (with the type the body asked for, if any). Replays of a
 * stored answer are counted as replays (src/http/operations.ts), not as writes.
 */
function countPaymentWrite(operation: string) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!businessMetricsOn() || reply.getHeader('idempotent-replayed') === 'true') return payload;
    if (reply.statusCode === 200) {
      const written = paymentWrittenBy(request.ctx);
      paymentWrites.inc({
        operation,
        type: written?.type ?? 'unknown',
        status: written?.status ?? 'unchanged',
        outcome: 'success',
      });
      return payload;
    }
    const found = typeof payload === 'string' ? CODE_IN_BODY.exec(payload)?.[1] : undefined;
    const outcome = found !== undefined && found in ERROR_CATALOGUE ? found : 'unknown';
    const asked = (request.body as { params?: { type?: unknown } } | null | undefined)?.params
      ?.type;
    paymentWrites.inc({
      operation,
      type: asked === 'receipt' || asked === 'refund' ? asked : 'unknown',
      status: 'none',
      outcome,
    });
    return payload;
  };
}

/** Where each kind of route is mounted (src/app.ts). */
export const PREFIX_OF: Record<RouteAuth, string> = {
  organization: '/v1/om',
  admin: '/v1/admin',
  public: '',
};

/** A Fastify plugin registering a group's routes, carrying the group (for its tests). */
export type RoutePlugin = ((app: FastifyInstance) => Promise<void>) & { group: RouteGroup };

/** A Fastify plugin registering the group's routes. */
export function routes(group: RouteGroup): RoutePlugin {
  const plugin = async (app: FastifyInstance): Promise<void> => {
    // The codes declared for a kind of route (auth) hold only where that kind is mounted.
    if (app.prefix !== PREFIX_OF[group.auth]) {
      throw new Error(`${group.auth} routes mounted under "${app.prefix}"`);
    }
    for (const definition of group.routes) {
      const codes = errorCodesOf(group, definition);
      const strip = definition.body !== undefined ? normalizeNulls(definition.body) : undefined;
      const handler = definition.handler as unknown as (
        request: FastifyRequest,
        reply: FastifyReply,
      ) => Promise<Answer<unknown>>;
      const headers = headersOf(group.auth, definition.headers);
      const { alternativeData } = definition;
      app.route({
        method: definition.method,
        url: definition.url,
        schema: {
          operationId: definition.operationId,
          tags: definition.tags ?? group.tags,
          summary: definition.summary,
          description: describe(definition, codes),
          security: SECURITY[group.auth],
          ...(headers !== undefined && { headers }),
          ...(definition.params !== undefined && { params: definition.params }),
          ...(definition.querystring !== undefined && { querystring: definition.querystring }),
          ...(definition.body !== undefined && {
            body: withExample(definition.body, definition.example),
          }),
          response: {
            200: { ...Envelope(definition.data), description: SUCCESS },
            ...errorResponses(codes),
          },
          'x-error-codes': codes,
        },
        ...(alternativeData !== undefined && {
          config: {
            swaggerTransform: ({ schema, url }: { schema: FastifySchema; url: string }) => ({
              url,
              schema: {
                ...schema,
                response: {
                  ...(schema.response as Record<number, TSchema>),
                  200: {
                    ...Envelope(Type.Union([definition.data, alternativeData])),
                    description: SUCCESS,
                  },
                },
              },
            }),
          },
        }),
        ...(definition.paymentWrite === true && {
          onSend: countPaymentWrite(definition.operationId),
        }),
        handler: async function (request, reply) {
          strip?.(request.body);
          const { data, warnings } = await handler(request, reply);
          return ok(request.id, data, warnings);
        },
      });
    }
  };
  return Object.assign(plugin, { group });
}
