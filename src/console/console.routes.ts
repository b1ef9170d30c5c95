// The back-office console (API.md §10): static files served by the service itself — no build
// step, no second server, nothing fetched from another host. Preact and htm come from
// node_modules as one ES module (htm's standalone build: Preact with hooks, no bare imports,
// so no import map and no inline script is needed).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));
// The package's own `import` entry (htm/preact/standalone.mjs), as Node resolves it.
const VENDOR = path.dirname(fileURLToPath(import.meta.resolve('htm/preact/standalone')));

/**
 * The console's policy: only this origin's scripts, styles and API (`connect-src 'self'`), no
 * inline script or style, no frames, no forms posted anywhere. Applies to /console only:
 * /docs (Swagger UI) has its own needs.
 */
export const CONSOLE_CSP = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  // Encapsulated: helmet's headers reach the console's routes only.
  await app.register(async (scope) => {
    await scope.register(helmet, {
      contentSecurityPolicy: { useDefaults: false, directives: CONSOLE_CSP },
      // The page never needs to be embedded or to send its URL elsewhere.
      referrerPolicy: { policy: 'no-referrer' },
    });
    scope.get('/console', { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect('/console/', 302),
    );
    await scope.register(fastifyStatic, {
      root: PUBLIC,
      prefix: '/console/',
      decorateReply: false,
      index: ['index.html'],
    });
    await scope.register(fastifyStatic, {
      root: VENDOR,
      prefix: '/console/vendor/',
      decorateReply: false,
      // Only the one module the page imports.
      allowedPath: (pathname) => pathname === '/standalone.mjs',
    });
  });
}
