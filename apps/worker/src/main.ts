import { startTracing } from '@x/app-kit/tracing';

// Tracing first (when the OTEL_* variables ask for it): instrumentations patch pg, ioredis
// and pino only if they load after them, so the worker is imported afterwards.
const tracing = await startTracing('x-worker', process.env);
const { serveWorker } = await import('./serve.js');
serveWorker(tracing);
