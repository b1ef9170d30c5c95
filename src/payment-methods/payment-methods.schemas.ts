// TypeBox schemas of the payment methods API (API.md §3.3): they validate the requests,
// shape the responses and document both in the OpenAPI.
import { Type } from '@sinclair/typebox';
import { AuditSchemaFields, Id, ListQuery, ParamsBody, PatchBody } from '../http/schemas.ts';

export const MAX_METHOD_NAME = 100;
export const MAX_METHOD_DESCRIPTION = 500;

export const MethodName = Type.String({
  minLength: 1,
  maxLength: MAX_METHOD_NAME,
  // A name of blanks only would show as an empty label on a POS screen.
  pattern: '\\S',
});

export const MethodDescription = Type.Union([
  Type.String({ maxLength: MAX_METHOD_DESCRIPTION }),
  Type.Null(),
]);

export const MethodCode = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,31}$',
  description: 'Stable key of the method for integrations, e.g. `cash`; unique per organization.',
});

const LocaleIn = Type.Object(
  { name: MethodName, description: Type.Optional(MethodDescription) },
  { additionalProperties: false },
);

/** On update every part is optional: only what is sent changes (per language, per field). */
const LocalePatch = Type.Object(
  { name: Type.Optional(MethodName), description: Type.Optional(MethodDescription) },
  { additionalProperties: false },
);

const LocaleOut = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
});

export const PaymentMethodSchema = Type.Object(
  {
    id: Id,
    locales: Type.Object({ ar: LocaleOut, en: LocaleOut }),
    visible: Type.Boolean(),
    code: Type.Union([Type.String(), Type.Null()]),
    ...AuditSchemaFields,
  },
  { $id: 'PaymentMethod' },
);

export const CreatePaymentMethodBody = ParamsBody({
  locales: Type.Object({ ar: LocaleIn, en: LocaleIn }, { additionalProperties: false }),
  visible: Type.Optional(Type.Boolean({ default: true })),
  code: Type.Optional(MethodCode),
});

export const UpdatePaymentMethodBody = PatchBody({
  locales: Type.Optional(
    Type.Object(
      { ar: Type.Optional(LocalePatch), en: Type.Optional(LocalePatch) },
      { additionalProperties: false },
    ),
  ),
  visible: Type.Optional(Type.Boolean()),
  code: Type.Optional(
    Type.Union([MethodCode, Type.Null()], { description: 'null removes the code.' }),
  ),
});

export const PaymentMethodListQuery = ListQuery({
  visible: Type.Optional(Type.Boolean({ description: 'Only visible (true) or hidden (false).' })),
  code: Type.Optional(MethodCode),
});
