// TypeBox schemas of the events feed (API.md §7, §7.1).
import { Type } from '@sinclair/typebox';
import { Id } from '../http/schemas.ts';

/** `payment.created`, or a prefix ending in `.` (`payment.`). */
export const EVENT_TYPE_PATTERN = '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*\\.?$';

export const EventSchema = Type.Object({
  id: Type.String(),
  type: Type.String({ examples: ['payment.created'] }),
  entityType: Type.String({ examples: ['payment'] }),
  entityId: Type.String(),
  data: Type.Unknown({ description: 'The object after the change, as the API shows it.' }),
  changes: Type.Union([
    Type.Object(
      {},
      { additionalProperties: true, description: '{field: {before, after}} of changed fields' },
    ),
    Type.Null(),
  ]),
  by: Type.String(),
  via: Type.String(),
  requestId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const FeedQuerySchema = Type.Object(
  {
    after: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'A `next` of an earlier answer; absent = from the oldest kept event.',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    type: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        pattern: EVENT_TYPE_PATTERN,
        description: 'An exact type (`payment.created`) or a prefix ending in `.` (`payment.`).',
      }),
    ),
    entityId: Type.Optional(Id),
    wait: Type.Integer({
      minimum: 0,
      maximum: 30,
      default: 0,
      description:
        'Seconds to hold the request while nothing new is there; answers at once when an event commits.',
    }),
  },
  { additionalProperties: false },
);

export const FeedPage = Type.Object({
  items: Type.Array(EventSchema),
  next: Type.String({ description: 'Pass as `after` next time; never null.' }),
});
