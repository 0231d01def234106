"""OpenTelemetry tracing: spans around commands and source runs, no-op unless an SDK is configured."""

from opentelemetry import trace

tracer = trace.get_tracer("defensible")
