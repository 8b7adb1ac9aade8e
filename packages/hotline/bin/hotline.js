#!/usr/bin/env node
// The `hotline` command: the compiled CLI. A checkout must be built first (npm run build).
import('../dist/src/cli/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('hotline: not built yet: run `npm run build` first\n');
    process.exitCode = 1;
  } else {
    throw error;
  }
});
