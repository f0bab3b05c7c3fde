import { register } from 'node:module';

/**
 * OpenTelemetry for an app, off by default. Kept out of the package index on purpose: an app
 * imports `@x/app-kit/tracing` first, before anything that loads `pg`, `ioredis`, `express`
 * or `pino`, because instrumentations patch a module only when it is loaded after them.
 */
export interface Tracing {
  /** Flushes the spans still buffered and stops the SDK (call it on shutdown). */
  shutdown(): Promise<void>;
}

/**
 * Tracing is on when the standard variables ask for an exporter: `OTEL_TRACES_EXPORTER` (other
 * than `none`), `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; and
 * `OTEL_SDK_DISABLED` is not `true`. Everything else (protocol, headers, sampler, batch delay,
 * service name) is read by the SDK itself from the usual `OTEL_*` variables.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the OpenTelemetry Node SDK with the instrumentations of what the apps use (http and
 * express: the api's requests and every outbound POST; pg; ioredis; pino, which adds
 * `trace_id`/`span_id` to log lines written inside a span), or does nothing and answers
 * undefined when tracing is not requested. `service` is the default `service.name`
 * (`OTEL_SERVICE_NAME` wins). The SDK is imported only when on, so it costs nothing when off.
 *
 * @example
 * // main.ts: first, then the app
 * const tracing = await startTracing('x-api', process.env);
 * await import('./serve.js');
 */
export async function startTracing(
  service: string,
  env: NodeJS.ProcessEnv,
): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  // Traces only: metrics stay on Prometheus (/metrics) and logs on stdout, unless the operator
  // asks the SDK for them by name. The SDK reads these from process.env.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  // ESM modules are patched by import-in-the-middle's loader hook; CommonJS ones by
  // require-in-the-middle. Both must be in place before the app's imports run.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ NodeSDK }, http, express, pg, ioredis, pino] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-express'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-pino'),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || service,
    instrumentations: [
      new http.HttpInstrumentation({
        // Probes and scrapes are not worth a trace each.
        ignoreIncomingRequestHook: (req) =>
          /^\/(healthz|readyz|metrics)\b/.test(req.url ?? '') ||
          (req.url ?? '').includes('/events'),
      }),
      new express.ExpressInstrumentation(),
      new pg.PgInstrumentation({ requireParentSpan: true }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
      // Trace ids in log lines only; the logs themselves stay on stdout.
      new pino.PinoInstrumentation({ disableLogSending: true }),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
