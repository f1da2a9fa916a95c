"""Tracing (vodstore.tracing): a purchase's web request, its database queries, the
relay's publish and a consumer's handling of the event share one trace.

The spans are caught by an in-memory exporter. The relay and the consumer are played
here by `producer_span` and `consumer_span` with the carrier the request stored; the
run through RabbitMQ is in the broker's tests."""

import json
import logging
import os
import sqlite3
import subprocess
import sys

import psycopg
import pytest
import redis
import wrapt
from django.conf import settings
from django.db import connection, connections
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from rest_framework.test import APIClient

from mileage.models import MileageEntry
from purchase.models import Purchase
from tests.conftest import make_user
from vodstore import tracing
from vodstore.models import OutboxEvent

OTEL_MIDDLEWARE = (
    "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
)


@pytest.fixture(scope="module")
def exporter():
    """Spans of this process, in memory; the instrumentations are taken out again
    after this module, so that the rest of the suite runs as it does without."""
    memory = InMemorySpanExporter()
    processor = tracing.add_exporter(memory)
    yield memory
    processor.shutdown()
    tracing.uninstrument()
    connections.close_all()  # the next test opens an untraced connection


@pytest.fixture
def spans(exporter, transactional_db):
    """The exporter, empty, with real commits and the database connection opened
    anew through the instrumented driver (the open one predates the instrumentation)."""
    connections.close_all()
    exporter.clear()
    yield exporter
    exporter.clear()


def trace_id_hex(span) -> str:
    return format(span.context.trace_id, "032x")


def is_db_span(span) -> bool:
    attributes = span.attributes or {}
    return span.kind == SpanKind.CLIENT and bool(
        attributes.get("db.system") or attributes.get("db.system.name")
    )


def buy_and_capture(spans, vod):
    """Buy `vod` through the API; return the response and the carrier that
    `tracing.carrier()` gave while the request stored its first outbox event. Only the
    request's spans are left in `spans`."""
    captured: list[dict[str, str]] = []

    def capture(execute, sql, params, many, context):
        if not captured and sql.startswith("INSERT") and OutboxEvent._meta.db_table in sql:
            captured.append(tracing.carrier())
        return execute(sql, params, many, context)

    client = APIClient()
    client.force_authenticate(make_user())
    spans.clear()  # the test's own set-up (the user, the film)
    with connection.execute_wrapper(capture):
        response = client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert captured, "the purchase stored no event"
    return response, captured[0]


def test_a_purchase_is_one_trace_of_a_server_span_and_its_queries(spans, vod):
    response, _ = buy_and_capture(spans, vod)
    assert response.status_code == 201

    finished = spans.get_finished_spans()
    servers = [s for s in finished if s.kind == SpanKind.SERVER]
    assert len(servers) == 1
    server = servers[0]
    assert server.parent is None
    assert server.name == "POST api/purchases/"
    assert server.attributes["http.route"] == "api/purchases/"
    queries = [s for s in finished if is_db_span(s)]
    assert len(queries) >= 10  # the purchase, its payment, its events, the points...
    statements = " ".join(str(s.attributes.get("db.statement", "")) for s in queries)
    assert Purchase._meta.db_table in statements and OutboxEvent._meta.db_table in statements
    assert MileageEntry._meta.db_table in statements  # the points, handled after commit
    # every span of the request, the queries of the after-commit handlers included
    by_id = {s.context.span_id: s for s in finished}
    for span in finished:
        assert span.context.trace_id == server.context.trace_id, span.name
        ancestor = span
        while ancestor.parent is not None:
            ancestor = by_id[ancestor.parent.span_id]
        assert ancestor is server, span.name
    assert server.resource.attributes["service.name"]
    assert tracing.ROLE_ATTRIBUTE in server.resource.attributes


def test_redis_commands_are_spans_of_the_request(spans, redis_cache, vod):
    """With Redis as the cache, the payment guard's and the rate limit's commands are
    in the purchase's trace too."""
    response, _ = buy_and_capture(spans, vod)
    assert response.status_code == 201
    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.kind == SpanKind.SERVER]
    commands = [
        s
        for s in finished
        if s.kind == SpanKind.CLIENT
        and "redis" in (s.attributes.get("db.system"), s.attributes.get("db.system.name"))
    ]
    assert commands
    assert {s.context.trace_id for s in commands} == {server.context.trace_id}


def test_the_event_carries_the_trace_through_the_relay_to_a_consumer(spans, vod):
    response, stored = buy_and_capture(spans, vod)
    assert response.status_code == 201
    (server,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    trace_id = trace_id_hex(server)

    # what the outbox row keeps: the request's context, W3C traceparent
    version, stored_trace_id, parent_span_id, flags = stored["traceparent"].split("-")
    assert (version, stored_trace_id) == ("00", trace_id)
    assert int(flags, 16) & 1  # sampled
    assert int(parent_span_id, 16) == server.context.span_id

    spans.clear()
    # the relay, in another process: no span is active there
    assert tracing.carrier() == {}
    with tracing.producer_span(
        "VodPurchased", "evt-1", "vodstore.events", parent=stored
    ) as headers:
        pass
    # a consumer, in yet another: only the message's headers
    with tracing.consumer_span(headers, "VodPurchased", "evt-1", "mileage") as span:
        assert tracing.carrier()["traceparent"].split("-")[1] == trace_id
        assert span.is_recording()

    producer, consumer = spans.get_finished_spans()
    assert producer.kind == SpanKind.PRODUCER and consumer.kind == SpanKind.CONSUMER
    assert trace_id_hex(producer) == trace_id_hex(consumer) == trace_id
    assert producer.parent.span_id == server.context.span_id and producer.parent.is_remote
    assert consumer.parent.span_id == producer.context.span_id and consumer.parent.is_remote
    assert headers["traceparent"].split("-")[2] == format(producer.context.span_id, "016x")
    assert producer.name == "publish vodstore.events"
    assert dict(producer.attributes) == {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "vodstore.events",
        "messaging.message.id": "evt-1",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.operation": "publish",
        "vodstore.event.type": "VodPurchased",
    }
    assert consumer.name == "process mileage"
    assert consumer.attributes["messaging.consumer.group.name"] == "mileage"
    assert consumer.attributes["messaging.operation"] == "process"
    assert consumer.attributes["messaging.message.id"] == "evt-1"
    assert consumer.status.status_code == StatusCode.UNSET


def test_the_consumer_continues_from_amqp_headers_of_any_shape(exporter):
    exporter.clear()
    with tracing.producer_span("MileageChanged", "evt-2", "vodstore.events", parent={}) as sent:
        pass
    # kombu hands back the application's headers beside others, numbers included
    received = {"TraceParent": sent["traceparent"].encode(), "x-retry": 1, "x-death": [{}]}
    with tracing.consumer_span(received, "MileageChanged", "evt-2", "payment"):
        pass
    producer, consumer = exporter.get_finished_spans()
    assert producer.parent is None  # the row stored no context: a trace begins here
    assert consumer.parent.span_id == producer.context.span_id


def test_a_failing_handler_is_recorded_and_raised(exporter):
    exporter.clear()
    with tracing.producer_span("VodPurchased", "evt-3", "vodstore.events", parent={}) as headers:
        pass
    with (
        pytest.raises(ValueError, match="no such film"),
        tracing.consumer_span(headers, "VodPurchased", "evt-3", "mileage"),
    ):
        raise ValueError("no such film")
    _, consumer = exporter.get_finished_spans()
    assert consumer.status.status_code == StatusCode.ERROR
    assert consumer.attributes["error.type"] == "builtins.ValueError"
    (event,) = consumer.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "no such film"


def test_a_failing_publish_is_recorded_and_raised(exporter):
    exporter.clear()
    with (
        pytest.raises(ConnectionError),
        tracing.producer_span("VodPurchased", "evt-4", "vodstore.events", parent={}),
    ):
        raise ConnectionError("broker gone")
    (producer,) = exporter.get_finished_spans()
    assert producer.status.status_code == StatusCode.ERROR


def test_no_active_span_means_an_empty_carrier(exporter):
    assert not trace.get_current_span().get_span_context().is_valid
    assert tracing.carrier() == {}
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("outer"):
        assert set(tracing.carrier()) == {"traceparent"}
    assert tracing.carrier() == {}


def test_a_stored_context_that_is_not_one_starts_a_new_trace(exporter):
    exporter.clear()
    for stored in ({"traceparent": "garbage"}, {"traceparent": 42}, ["not", "a", "dict"]):
        with tracing.producer_span("VodPurchased", "evt-5", "vodstore.events", parent=stored):
            pass
    with tracing.consumer_span(None, "VodPurchased", "evt-5", "mileage"):
        pass
    assert [s.parent for s in exporter.get_finished_spans()] == [None] * 4


def test_configure_twice_instruments_once(exporter, caplog):
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    with caplog.at_level(logging.WARNING):
        assert tracing.configure() is provider
        assert tracing.configure(instrument=True) is provider
        assert tracing.configure("consumer:mileage") is provider
    assert not caplog.records  # no "Overriding of current TracerProvider", no re-instrument
    assert trace.get_tracer_provider() is provider
    assert set(tracing.instrumented()) == set(tracing.INSTRUMENTATIONS)
    assert settings.MIDDLEWARE.count(OTEL_MIDDLEWARE) == 1
    # each library's entry point is wrapped once, not a wrapper of a wrapper
    for wrapped in (sqlite3.connect, psycopg.connect, vars(redis.Redis)["execute_command"]):
        assert isinstance(wrapped, wrapt.FunctionWrapper)
        assert not isinstance(wrapped.__wrapped__, wrapt.FunctionWrapper)


def test_one_request_makes_one_server_span(spans):
    client = APIClient()
    client.force_authenticate(make_user())
    assert client.get("/api/mileage/").status_code == 200
    assert client.get("/healthz").status_code == 200  # a probe is not traced
    servers = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET api/mileage/"]


def test_the_producer_continues_the_current_span_without_a_stored_context(exporter):
    exporter.clear()
    tracer = trace.get_tracer(__name__)
    with (
        tracer.start_as_current_span("relay pass") as outer,
        tracing.producer_span("VodPurchased", "evt-6", "vodstore.events") as headers,
    ):
        assert headers["traceparent"].split("-")[1] == format(
            outer.get_span_context().trace_id, "032x"
        )
    producer, _ = exporter.get_finished_spans()
    assert producer.parent.span_id == outer.get_span_context().span_id


def test_an_exporter_that_cannot_reach_its_collector_fails_without_raising(exporter):
    """OTLP to a port where nothing listens: the export answers FAILURE (the batch
    processor, which calls it from its own thread, then drops the batch); nothing is
    raised. A whole process with such a collector: see the probe tests below."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter.clear()
    with tracing.producer_span("VodPurchased", "evt-7", "vodstore.events", parent={}) as h:
        pass
    with tracing.consumer_span(h, "VodPurchased", "evt-7", "mileage"):
        pass
    down = OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{socket_nobody_listens_on()}/v1/traces", timeout=1
    )
    try:
        assert down.export(exporter.get_finished_spans()) == SpanExportResult.FAILURE
    finally:
        down.shutdown()


def socket_nobody_listens_on() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_roles_of_manage_py_commands(monkeypatch):
    monkeypatch.delenv("PROCESS_ROLE", raising=False)
    assert tracing.command_role(["manage.py", "runserver"]) == "web"
    assert tracing.command_role(["manage.py", "outbox_worker"]) == "relay"
    assert tracing.command_role(["manage.py", "consume_events", "--group", "mileage"]) == (
        "consumer:mileage"
    )
    assert tracing.command_role(["manage.py", "consume_events", "--group=payment"]) == (
        "consumer:payment"
    )
    assert tracing.command_role(["manage.py", "migrate"]) == "migrate"
    monkeypatch.setenv("PROCESS_ROLE", "relay")
    assert tracing.command_role(["manage.py", "outbox_worker"]) == "relay"


def test_exporters_follow_the_standard_variables(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.exporter_names() == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.exporter_names() == ["otlp"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.exporter_names() == ["console"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.exporter_names() == []


# A process of its own, as a deployment runs one: wsgi.py configures tracing from the
# environment before Django builds the application, which then answers one request.
PROBE = """
import json, sys, wsgiref.util
from vodstore import tracing, wsgi
from django.conf import settings
from opentelemetry import trace
environ = {"PATH_INFO": "/api/no-such-thing/", "REQUEST_METHOD": "GET"}
wsgiref.util.setup_testing_defaults(environ)
status = []
b"".join(wsgi.application(environ, lambda s, h, exc_info=None: status.append(s)))
provider = trace.get_tracer_provider()
getattr(provider, "force_flush", lambda: None)()
print(json.dumps({
    "status": status[0],
    "provider": type(provider).__name__,
    "instrumented": tracing.instrumented(),
    "first_middleware": settings.MIDDLEWARE[0],
}), file=sys.stderr)
"""


def run_process(**env: str) -> tuple[dict, list[dict]]:
    """Run PROBE with these OTEL_* variables (and no other); return its summary and
    the spans it printed (the console exporter's JSON)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PROCESS_ROLE"
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="vodstore.test_settings",
        PYTHONPATH=str(settings.BASE_DIR),
        LOG_LEVEL="CRITICAL",
        **env,
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    printed, decoder, at = [], json.JSONDecoder(), 0
    while (at := len(done.stdout) - len(done.stdout[at:].lstrip()) + at) < len(done.stdout):
        span, at = decoder.raw_decode(done.stdout, at)
        printed.append(span)
    return summary, printed


def test_a_process_without_an_exporter_is_not_instrumented():
    """Tracing off costs a request nothing: no middleware, no wrapped driver."""
    summary, printed = run_process()
    assert summary["status"].startswith("404")
    assert summary["provider"] == "TracerProvider"  # contexts still pass through
    assert summary["instrumented"] == []
    assert summary["first_middleware"] != OTEL_MIDDLEWARE
    assert printed == []


def test_a_process_with_the_console_exporter_prints_its_requests():
    summary, printed = run_process(
        OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="vodstore-probe", PROCESS_ROLE="web-2"
    )
    assert summary["status"].startswith("404")
    assert set(summary["instrumented"]) == set(tracing.INSTRUMENTATIONS)
    assert summary["first_middleware"] == OTEL_MIDDLEWARE
    (span,) = printed
    assert span["kind"] == "SpanKind.SERVER"
    assert span["attributes"]["http.status_code"] == 404
    assert span["resource"]["attributes"]["service.name"] == "vodstore-probe"
    assert span["resource"]["attributes"][tracing.ROLE_ATTRIBUTE] == "web-2"


def test_a_process_whose_collector_is_down_answers_and_exits():
    summary, printed = run_process(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{socket_nobody_listens_on()}",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
    )
    assert summary["status"].startswith("404")
    assert set(summary["instrumented"]) == set(tracing.INSTRUMENTATIONS)
    assert printed == []


def test_otel_sdk_disabled_turns_everything_off():
    summary, _ = run_process(OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="console")
    assert summary["status"].startswith("404")
    assert summary["provider"] == "ProxyTracerProvider"
    assert summary["instrumented"] == []
