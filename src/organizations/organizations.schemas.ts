import { Type } from '@sinclair/typebox';
import { AuditSchemaFields, Id, Name, ParamsBody } from '../http/schemas.ts';

export const Currency = Type.String({
  pattern: '^[A-Z]{3}$',
  description: 'ISO 4217 code; fixes the minor-unit exponent (KWD 3, SAR 2, JPY 0).',
});

export const MaxPaymentsPerOrder = Type.Integer({ minimum: 1, maximum: 10000 });

export const TimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  description:
    'IANA time-zone name (e.g. Asia/Riyadh, Europe/Berlin); reports cut days at midnight in it.',
  examples: ['Asia/Riyadh'],
});

export const OrganizationSchema = Type.Object(
  {
    id: Id,
    name: Type.String(),
    currency: Type.String(),
    currencyExponent: Type.Integer({
      description: 'Decimals allowed in amounts (KWD 3, SAR 2, JPY 0).',
    }),
    settings: Type.Object({ maxPaymentsPerOrder: Type.Integer(), timeZone: Type.String() }),
    ...AuditSchemaFields,
  },
  { $id: 'Organization' },
);

export const CreateOrganizationBody = ParamsBody({
  name: Name,
  currency: Currency,
  maxPaymentsPerOrder: Type.Optional(MaxPaymentsPerOrder),
  timeZone: Type.Optional(TimeZone),
});

export const UpdateOrganizationBody = ParamsBody({
  name: Type.Optional(Name),
  maxPaymentsPerOrder: Type.Optional(MaxPaymentsPerOrder),
  timeZone: Type.Optional(TimeZone),
});
