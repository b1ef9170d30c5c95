// Type-aware lint: the rules that catch real bugs in async service code
// (a promise nobody awaits is a write nobody waits for).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of docs/architecture.md, enforced: each entry names the files of a layer and the
// imports they may not make. Domain files are known by their role suffix, so a new domain
// (src/<domain>/<domain>.<role>.ts) falls under these rules without being listed here.
const DOMAIN_FILE = String.raw`\.(routes|schemas|service|repository|rules|view|checks|moves|queries)\.ts$`;
const HTTP = String.raw`(^|/)http/`;
const ENGINE = String.raw`(^|/)db/(?!schema\.ts$)`;
const OTHER_SERVICE = String.raw`^\.\./[^/]+/[^/]+\.service\.ts$`;
const layer = (files, forbidden, ignores = []) => ({
  files,
  ignores,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map(([regex, why]) => ({
          regex,
          message: `${why} (docs/architecture.md)`,
        })),
      },
    ],
  },
});
export const LAYERS = [
  layer(
    ['src/shared/**/*.ts', 'src/money/**/*.ts', 'src/errors.ts'],
    [
      [HTTP, 'shared code knows nothing of HTTP'],
      [ENGINE, 'shared code takes no database (types of db/schema.ts only)'],
      [DOMAIN_FILE, 'shared code depends on no domain'],
    ],
  ),
  layer(
    ['src/db/**/*.ts'],
    [
      [HTTP, 'the database layer knows nothing of HTTP'],
      [DOMAIN_FILE, 'the database layer depends on no domain'],
    ],
  ),
  layer(
    ['src/http/**/*.ts'],
    [
      [
        String.raw`\.(routes|repository|rules|view|checks|moves|queries)\.ts$`,
        'HTTP plumbing serves every domain and depends on none',
      ],
      [
        String.raw`^\.\./(?!api-keys/)[^/]+/[^/]+\.service\.ts$`,
        'HTTP plumbing calls only authentication (api-keys)',
      ],
    ],
  ),
  layer(
    ['src/*/**/*.rules.ts'],
    [
      [
        String.raw`\.(routes|schemas|service|repository|view|checks|moves|queries)\.ts$`,
        'rules are pure: no I/O, no other layers',
      ],
      [HTTP, 'rules are pure: no HTTP'],
      [ENGINE, 'rules are pure: no database (types of db/schema.ts only)'],
      [String.raw`(^|/)events/`, 'rules are pure: no event log'],
    ],
  ),
  layer(
    ['src/*/**/*.repository.ts'],
    [
      [
        String.raw`\.(routes|schemas|service|rules|view|checks|moves|queries)\.ts$`,
        'repositories hold SQL only',
      ],
      [HTTP, 'repositories know nothing of HTTP'],
    ],
  ),
  layer(
    ['src/*/**/*.routes.ts', 'src/*/**/*.schemas.ts'],
    [
      [String.raw`\.repository\.ts$`, 'routes call their service, never SQL'],
      [ENGINE, 'routes call their service, never the database'],
      [OTHER_SERVICE, "routes call their own domain's service"],
    ],
  ),
  layer(
    ['src/*/**/*.ts'],
    [
      [HTTP, 'use cases know nothing of HTTP: routes translate'],
      [String.raw`\.(routes|schemas)\.ts$`, 'use cases know nothing of HTTP: routes translate'],
      [OTHER_SERVICE, "no service imports another domain's service: share rules or repositories"],
    ],
    [
      'src/http/**',
      'src/db/**',
      'src/shared/**',
      'src/money/**',
      'src/*/**/*.rules.ts',
      'src/*/**/*.repository.ts',
      'src/*/**/*.routes.ts',
      'src/*/**/*.schemas.ts',
    ],
  ),
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'data/',
      'coverage/',
      'bin/',
      '.scratch/',
      '.reliability/',
      '.bench/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      // Fastify plugins and handlers are async by contract even when they await nothing.
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...LAYERS,
  {
    // Tests read JSON bodies freely; the assertions are the type check there.
    files: ['test/**/*.ts', 'reliability/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['eslint.config.js', 'scripts/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The console's browser modules (served as they are, no build): plain JavaScript.
    files: ['src/console/public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'sessionStorage',
          'localStorage',
          'fetch',
          'crypto',
          'addEventListener',
          'removeEventListener',
          'URL',
          'Intl',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
