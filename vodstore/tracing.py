"""OpenTelemetry tracing: one purchase followed from the web request through the outbox
relay to each consumer's handler, as one trace.

The web request's trace context is stored with each outbox row (`carrier()`); the
relay publishes the row under a PRODUCER span that continues that context
(`producer_span`) and puts its own context in the message headers; a consumer runs
its handlers under a CONSUMER span continued from those headers (`consumer_span`).
Django requests, database queries (psycopg, sqlite3) and Redis commands get their
spans from the OpenTelemetry instrumentations.

Every process calls `configure()` once, before Django builds its WSGI or ASGI
handler (manage.py, wsgi.py and asgi.py do). The standard OpenTelemetry environment
variables choose what happens, as OpenTelemetry documents them:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): spans
  are exported over OTLP/HTTP (protobuf), in batches from a background thread; a
  collector that is down costs a logged warning, never an error in a request.
- ``OTEL_TRACES_EXPORTER``: ``console`` prints spans on standard output, ``otlp``
  exports even without an endpoint (to the default localhost:4318), ``none``
  exports nothing; a comma-separated list is allowed.
- Neither: nothing is exported and nothing is instrumented, so a request costs
  exactly what it did without tracing. There is still a real tracer provider, so
  that a message's context passes through a relay or consumer unchanged, and so
  that tests can attach an exporter (`add_exporter`), which instruments then.
- ``OTEL_SDK_DISABLED=true``: no tracer provider at all; every span is a no-op.
- ``OTEL_SERVICE_NAME`` (default "vodstore"), ``OTEL_RESOURCE_ATTRIBUTES``,
  ``OTEL_TRACES_SAMPLER``, ``OTEL_PROPAGATORS``, ``OTEL_BSP_*``,
  ``OTEL_EXPORTER_OTLP_HEADERS`` / ``_TIMEOUT`` / ``_COMPRESSION`` / ``_CERTIFICATE``,
  ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS``: as documented by OpenTelemetry.
- ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``: names among django, psycopg, sqlite3 and
  redis that are left alone.
- ``PROCESS_ROLE``: the process's role on every span's resource
  (``vodstore.process.role``: web, relay, consumer:<group>...), when the caller of
  `configure()` passes none.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

ROLE_ATTRIBUTE = "vodstore.process.role"
EVENT_TYPE_ATTRIBUTE = "vodstore.event.type"
DEFAULT_SERVICE_NAME = "vodstore"
MESSAGING_SYSTEM = "rabbitmq"
# Probes and static files would only add noise; OTEL_PYTHON_DJANGO_EXCLUDED_URLS (or
# OTEL_PYTHON_EXCLUDED_URLS) replaces this list.
DEFAULT_EXCLUDED_URLS = "/healthz,/readyz,/metrics,/static/"
INSTRUMENTATIONS = ("django", "psycopg", "sqlite3", "redis")

_lock = threading.RLock()
_provider: TracerProvider | None = None
_configured = False
# A proxy until configure() sets the global provider, then that provider's tracer.
_tracer = trace.get_tracer(__name__)


# --- set-up -------------------------------------------------------------------------


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def exporter_names() -> list[str]:
    """The span exporters the environment asks for: OTEL_TRACES_EXPORTER when set
    ("none" is none), else "otlp" when an OTLP endpoint is set, else none."""
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if value:
        names = [name.strip() for name in value.split(",") if name.strip()]
        return [name for name in names if name != "none"]
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return ["otlp"]
    return []


def command_role(argv: Sequence[str]) -> str:
    """The role of a `manage.py` process: PROCESS_ROLE when set, "web" for runserver,
    "relay" for outbox_worker, "consumer:<group>" for consume_events --group <group>,
    else the command's name."""
    if role := os.environ.get("PROCESS_ROLE"):
        return role
    command = argv[1] if len(argv) > 1 else ""
    if command in ("", "runserver"):
        return "web"
    if command == "outbox_worker":
        return "relay"
    if command == "consume_events":
        for i, arg in enumerate(argv):
            if arg == "--group" and i + 1 < len(argv):
                return f"consumer:{argv[i + 1]}"
            if arg.startswith("--group="):
                return f"consumer:{arg.split('=', 1)[1]}"
        return "consumer"
    return command


def _resource(role: str):
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create.
    resource = Resource.create({ROLE_ATTRIBUTE: role})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _exporter_processors(names: list[str]) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    processors: list[SpanProcessor] = []
    for name in names:
        if name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol != "http/protobuf":
                logger.warning("tracing: OTLP %r is not installed; using http/protobuf", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Endpoint, headers, timeout, compression: from the OTEL_EXPORTER_OTLP_* vars.
            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            logger.warning("tracing: unknown OTEL_TRACES_EXPORTER %r ignored", name)
    return processors


def configure(role: str | None = None, *, instrument: bool | None = None) -> TracerProvider | None:
    """Set up tracing for this process; later calls change nothing (idempotent).

    Sets the global tracer provider (service.name from OTEL_SERVICE_NAME, default
    "vodstore"; `role`, else PROCESS_ROLE, else "web", as vodstore.process.role),
    with the exporters the environment asks for, and instruments Django, psycopg,
    sqlite3 and Redis when spans are exported (or when `instrument` is true).
    Returns the SDK tracer provider, or None when OTEL_SDK_DISABLED is true.
    Must run before Django builds its request handler, so that its middleware is in."""
    global _provider, _configured
    with _lock:
        if not _configured:
            _configured = True
            if _env_true("OTEL_SDK_DISABLED"):
                logger.debug("tracing: disabled by OTEL_SDK_DISABLED")
                return None
            from opentelemetry.sdk.trace import TracerProvider

            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                # Someone set it up before us (opentelemetry-instrument): use theirs.
                _provider = current
            else:
                _provider = TracerProvider(resource=_resource(role or _default_role()))
                for processor in _exporter_processors(exporter_names()):
                    _provider.add_span_processor(processor)
                trace.set_tracer_provider(_provider)
            if instrument is None:
                instrument = bool(exporter_names())
        if _provider is not None and instrument:
            _instrument()
        return _provider


def _default_role() -> str:
    return os.environ.get("PROCESS_ROLE") or "web"


def add_exporter(exporter: SpanExporter, *, batch: bool = False) -> SpanProcessor:
    """Export this process's spans to `exporter` too (tests: an InMemorySpanExporter);
    configures tracing first if needed, and instruments the libraries, since spans are
    now exported. Returns the span processor: `shutdown()` it to stop exporting."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        provider = configure(instrument=True)
        if provider is None:
            raise RuntimeError("tracing is disabled (OTEL_SDK_DISABLED=true)")
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return processor


def _instrumentor(name: str):
    if name == "django":
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        return DjangoInstrumentor()
    if name == "psycopg":
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        return PsycopgInstrumentor()
    if name == "sqlite3":
        from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

        return SQLite3Instrumentor()
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return RedisInstrumentor()


def _disabled_instrumentations() -> set[str]:
    value = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return {name.strip() for name in value.split(",") if name.strip()}


def _instrument() -> None:
    """Instrument each library once (each instrumentor remembers it is in)."""
    disabled = _disabled_instrumentations()
    for name in INSTRUMENTATIONS:
        if name in disabled:
            continue
        try:
            instrumentor = _instrumentor(name)
            if instrumentor.is_instrumented_by_opentelemetry:
                continue
            if name == "django" and not _settings_load():
                continue
            if name == "django" and not (
                os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS")
                or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
            ):
                instrumentor.instrument(excluded_urls=DEFAULT_EXCLUDED_URLS)
            else:
                instrumentor.instrument()
        except Exception:  # a library missing or broken: the others still go in
            logger.warning("tracing: could not instrument %s", name, exc_info=True)


def _settings_load() -> bool:
    """Whether Django's settings load. The Django instrumentor would otherwise
    configure empty settings over a broken settings module, hiding its error."""
    from django.conf import settings

    try:
        settings.MIDDLEWARE  # noqa: B018
    except Exception:
        logger.debug("tracing: settings do not load; Django is not instrumented", exc_info=True)
        return False
    return True


def uninstrument() -> None:
    """Take the library instrumentations out again (tests; `configure(instrument=True)`
    or `add_exporter` puts them back). Connections already open stay traced until
    closed."""
    with _lock:
        for name in INSTRUMENTATIONS:
            try:
                instrumentor = _instrumentor(name)
            except ImportError:
                continue
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()


def instrumented() -> list[str]:
    """The libraries instrumented now."""
    names = []
    for name in INSTRUMENTATIONS:
        try:
            if _instrumentor(name).is_instrumented_by_opentelemetry:
                names.append(name)
        except ImportError:
            continue
    return names


# --- context across processes ---------------------------------------------------------


def carrier() -> dict[str, str]:
    """The current trace context as headers (W3C traceparent, tracestate), to store
    with an outbox row; {} when no span is active."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    headers: dict[str, str] = {}
    try:
        propagate.inject(headers)
    except Exception:  # never let tracing fail a purchase
        logger.debug("tracing: could not inject the trace context", exc_info=True)
        return {}
    return headers


def _text_headers(headers: Any) -> dict[str, str]:
    """Message headers as a propagator reads them: lower-case names, text values
    (AMQP headers may hold numbers or bytes; a stored context may be anything)."""
    if not isinstance(headers, Mapping):
        return {}
    text = {}
    for key, value in headers.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(key, str) and isinstance(value, str):
            text[key.lower()] = value
    return text


def _extract(headers: Any):
    try:
        return propagate.extract(_text_headers(headers))
    except Exception:  # a malformed context starts a new trace, never an error
        logger.debug("tracing: could not extract a trace context", exc_info=True)
        from opentelemetry.context import Context

        return Context()


def _record_failure(span: trace.Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_attribute("error.type", f"{type(exc).__module__}.{type(exc).__qualname__}")
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@contextmanager
def producer_span(
    event_type: str,
    event_id: str,
    destination: str,
    *,
    parent: Mapping[str, Any] | None = None,
    routing_key: str | None = None,
) -> Iterator[dict[str, str]]:
    """A PRODUCER span around publishing one event to `destination` (the exchange),
    continuing `parent` (the context stored with the outbox row; {} starts a new
    trace, None continues the current context). Yields the headers to send with the
    message: the producer span's context. An exception is recorded and re-raised."""
    attributes: dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": destination,
        "messaging.message.id": event_id,
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.operation": "publish",  # the older conventions' name
        EVENT_TYPE_ATTRIBUTE: event_type,
    }
    if routing_key is not None:
        attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
    context = None if parent is None else _extract(parent)
    with _tracer.start_as_current_span(
        f"publish {destination}",
        context=context,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        headers: dict[str, str] = {}
        try:
            propagate.inject(headers)
        except Exception:
            logger.debug("tracing: could not inject the trace context", exc_info=True)
        try:
            yield headers
        except Exception as exc:
            _record_failure(span, exc)
            raise


@contextmanager
def consumer_span(
    headers: Mapping[str, Any] | None,
    event_type: str,
    event_id: str,
    group: str,
    *,
    destination: str | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span around handling one message in consumer group `group` (the
    app), child of the context in the message's `headers`. Yields the span. An
    exception is recorded (the span's status is then ERROR) and re-raised."""
    attributes: dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.consumer.group.name": group,
        "messaging.message.id": event_id,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.operation": "process",
        EVENT_TYPE_ATTRIBUTE: event_type,
    }
    if destination is not None:
        attributes["messaging.destination.name"] = destination
    with _tracer.start_as_current_span(
        f"process {group}",
        context=_extract(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            _record_failure(span, exc)
            raise
