#!/usr/bin/env node
// Runs the TypeScript sources directly: Node 20 cannot strip types, tsx compiles on load.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
