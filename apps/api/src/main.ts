import { startTracing } from '@x/app-kit/tracing';

// Tracing first (when the OTEL_* variables ask for it): instrumentations patch pg, ioredis,
// express and pino only if they load after them, so the app is imported afterwards.
const tracing = await startTracing('x-api', process.env);
const { serveApi } = await import('./serve.js');
serveApi(tracing);
