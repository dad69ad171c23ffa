#!/usr/bin/env node
// Entry point. The thread pool must be sized before anything touches it:
// every queue commit is several fs calls, and fsync blocks a pool thread.
process.env.UV_THREADPOOL_SIZE ??= '16';
await import('../dist/core/cli/main.js');
