import { describe, expect, it } from 'vitest';
import { startTracing, tracingRequested } from '../src/tracing.js';

describe('tracing (OpenTelemetry) is off unless the standard variables ask for it', () => {
  it('is off with no OTEL_* variables, with OTEL_TRACES_EXPORTER=none, and with OTEL_SDK_DISABLED=true', async () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(
      tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBe(false);
    // Off: nothing is started, nothing to shut down.
    expect(await startTracing('x-test', {})).toBeUndefined();
  });

  it('is on with an exporter or an OTLP endpoint', () => {
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(
      tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }),
    ).toBe(true);
  });
});
