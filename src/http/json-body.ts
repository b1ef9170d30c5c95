// The only body parser (API.md §1: JSON only). Besides Fastify's own protections
// (__proto__ / constructor.prototype keys are refused), text containing a NUL character or a
// lone surrogate is refused: PostgreSQL cannot store the first, neither engine the second
// faithfully, and no field of this API has a use for either.
import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { invalidParameter } from '../errors.ts';

// In `u` mode pairs are read as one code point, so only an unpaired half matches.
const LONE_SURROGATE = /\p{Surrogate}/u;

function refuseUnstorableText(_key: string, value: unknown): unknown {
  if (typeof value === 'string') {
    if (value.includes('\u0000'))
      throw invalidParameter('body', 'text may not contain NUL characters');
    // A lone surrogate has no UTF-8 form: each engine would store a different replacement.
    if (LONE_SURROGATE.test(value))
      throw invalidParameter('body', 'text must be well-formed Unicode');
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
        sjson.parse(text, refuseUnstorableText, {
          protoAction: 'error',
          constructorAction: 'error',
        }),
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
