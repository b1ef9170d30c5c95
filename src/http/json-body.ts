// The only body parser (API.md §1: JSON only). Besides Fastify's own protections
// (__proto__ / constructor.prototype keys are refused), text containing a NUL character is
// refused: PostgreSQL cannot store it, and no field of this API has a use for it.
import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { invalidParameter } from '../errors.ts';

function refuseNul(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.includes('\u0000')) {
    throw invalidParameter('body', 'text may not contain NUL characters');
  }
  return value;
}

export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    // An empty body with a JSON content type (some clients always send the header) is no
    // body: routes that need one then say so through their schema.
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(
        null,
        sjson.parse(text, refuseNul, { protoAction: 'error', constructorAction: 'error' }),
      );
    } catch (error) {
      done(
        error instanceof Error && 'code' in error
          ? error
          : invalidParameter('body', 'not valid JSON'),
        undefined,
      );
    }
  });
}
