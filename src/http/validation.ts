// Request validation. Bodies are validated exactly as sent: no type coercion ("10" is not
// 10) and no silent stripping of unknown properties (API.md §1). Query strings and path
// parameters arrive as text, so those are coerced to the declared types.
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from '@sinclair/typebox';

// ajv-formats is CommonJS; under NodeNext its default export sits one level down.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const strict = makeAjv(false);
const coercing = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema);

/** The field a validation error is about, as a dotted path (`params.amount`, `limit`). */
export function describeValidationError(
  error: ErrorObject,
  context: string | undefined,
): { field: string; reason: string } {
  const segments = error.instancePath.split('/').filter((s) => s !== '');
  let reason = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties') {
    segments.push(String((error.params as { additionalProperty: string }).additionalProperty));
    reason = 'unknown property';
  } else if (error.keyword === 'required') {
    segments.push(String((error.params as { missingProperty: string }).missingProperty));
    reason = 'is required';
  }
  // Fields are named as the caller wrote them inside `params` (`amount`, not
  // `params.amount`), the same names the business rules use in their details.
  if (context === 'body' && segments[0] === 'params' && segments.length > 1) segments.shift();
  const field = segments.join('.') || (context === 'body' ? 'body' : (context ?? 'request'));
  return { field, reason };
}
