"""The deploy files say what matters: non-root pods, the right probes, no secret in the
repository, only the consumer groups that exist. `make check-deploy` validates their
form (schemas, hadolint); these tests read what they say."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_deploy", ROOT / "scripts/check_deploy.py")
check_deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_deploy)

BASE = ROOT / "deploy/k8s/base"
PRODUCTION = ROOT / "deploy/k8s/overlays/production"
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
ENV_EXAMPLE = ROOT / "deploy/env.production.example"
SECRETS_EXAMPLE = ROOT / "deploy/k8s/secrets.env.example"

SECRET_NAMES = {"SECRET_KEY", "DATABASE_URL", "EVENT_BROKER_URL", "METRICS_TOKEN", "EMAIL_URL"}
# the cluster's media bucket (MEDIA_STORAGE=s3 in its ConfigMap)
MEDIA_SECRET_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
CONSUMER_GROUPS = {"mileage", "payment", "purchase"}
PROBE_HOST = "localhost"
# user:password@ in a URL
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def rendered(directory):
    return check_deploy.render_kustomization(directory)


def of_kind(resources, kind):
    return [r for r in resources if r["kind"] == kind]


def pod_spec(resource):
    return resource["spec"]["template"]["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec["containers"]


def by_name(resources, kind, name):
    (found,) = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return found


def env_file(path):
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def compose_store_services():
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if service.get("image", "").startswith("${VODSTORE_IMAGE")
    }


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_every_pod_runs_as_a_numeric_non_root_user_on_a_read_only_root(directory):
    workloads = of_kind(rendered(directory), "Deployment") + of_kind(rendered(directory), "Job")
    assert len(workloads) == 6
    for workload in workloads:
        spec = pod_spec(workload)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert context["runAsUser"] == 10001
        assert context["runAsGroup"] == 10001
        assert spec["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(spec):
            own = container["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, container["name"]
            assert own["readOnlyRootFilesystem"] is True, container["name"]
            assert own["capabilities"]["drop"] == ["ALL"]
            assert "runAsUser" not in own or own["runAsUser"] == 10001
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
            assert tmp and tmp[0]["name"] in tmp_volumes, "gunicorn and Python need a /tmp"
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_the_image_runs_as_the_same_numeric_user_and_checks_health_in_exec_form():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER 10001(:10001)?$", dockerfile, re.MULTILINE)
    assert re.search(r"useradd [^\n]*--uid 10001", dockerfile)
    healthcheck = dockerfile.split("HEALTHCHECK", 1)[1]
    assert re.search(r'\bCMD \["python", "-c"', healthcheck), "exec form"
    assert f"'Host': '{PROBE_HOST}'" in healthcheck


def test_web_is_ready_on_readyz_and_alive_on_healthz_with_a_host_django_accepts():
    resources = rendered(PRODUCTION)
    web = by_name(resources, "Deployment", "vodstore-web")
    (container,) = pod_spec(web)["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert liveness["httpGet"]["path"] == "/healthz"
    allowed = by_name(resources, "ConfigMap", "vodstore-config")["data"]["ALLOWED_HOSTS"]
    for probe in (readiness, liveness, container["startupProbe"]):
        assert probe["httpGet"]["port"] == "http"
        assert probe["httpGet"]["httpHeaders"] == [{"name": "Host", "value": PROBE_HOST}]
        assert PROBE_HOST in allowed.split(",")
    service = by_name(resources, "Service", "vodstore-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_probes_host_passes_django_behind_https(client, settings):
    """What the kubelet and the compose health check send is answered 200: not 400 for
    an unknown host, not a redirect to HTTPS."""
    data = by_name(rendered(PRODUCTION), "ConfigMap", "vodstore-config")["data"]
    settings.ALLOWED_HOSTS = data["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = data["SECURE_HTTPS"] == "true"
    assert settings.SECURE_SSL_REDIRECT
    assert client.get("/healthz", HTTP_HOST=PROBE_HOST).status_code == 200
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_web_and_the_consumers_have_disruption_budgets_and_autoscalers():
    resources = rendered(PRODUCTION)
    scaled = {"vodstore-web"} | {f"vodstore-consume-{group}" for group in CONSUMER_GROUPS}
    budgets = {r["metadata"]["name"]: r for r in of_kind(resources, "PodDisruptionBudget")}
    autoscalers = {r["metadata"]["name"]: r for r in of_kind(resources, "HorizontalPodAutoscaler")}
    assert set(budgets) == set(autoscalers) == scaled
    for name in scaled:
        deployment = by_name(resources, "Deployment", name)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        assert autoscalers[name]["apiVersion"] == "autoscaling/v2"
        assert autoscalers[name]["spec"]["scaleTargetRef"]["name"] == name
        assert autoscalers[name]["spec"]["minReplicas"] >= 2
        # the autoscaler owns the count: a replicas field would reset it at every apply
        assert "replicas" not in deployment["spec"]
    assert by_name(resources, "Deployment", "vodstore-relay")["spec"]["replicas"] >= 2


def test_production_pins_the_image_and_names_the_namespace():
    for resource in rendered(PRODUCTION):
        assert resource["metadata"]["namespace"] == "vodstore"
        for container in check_deploy._containers(resource):
            name, tag = check_deploy.split_image(container["image"])
            assert name != "vodstore" and tag not in ("", ":latest"), container["image"]


def test_no_secret_with_values_is_in_the_repository():
    skip = {".git", ".venv", "node_modules", "staticfiles", ".hypothesis", "__pycache__"}
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]
        files += [Path(folder, n) for n in names if n.endswith((".yaml", ".yml"))]
    assert ROOT / "compose.yaml" in files
    for path in files:
        for document in check_deploy.load_documents(path):
            if isinstance(document, dict) and document.get("kind") == "Secret":
                assert not document.get("data") and not document.get("stringData"), path
    for directory in (BASE, PRODUCTION):
        assert not of_kind(rendered(directory), "Secret")


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_secrets_come_from_the_operators_secret_and_settings_from_the_config_map(directory):
    resources = rendered(directory)
    config = by_name(resources, "ConfigMap", "vodstore-config")["data"]
    assert not SECRET_NAMES & set(config)
    assert config["DEBUG"] == "false"
    assert not any(CREDENTIALS_IN_URL.search(value) for value in config.values())
    for workload in of_kind(resources, "Deployment") + of_kind(resources, "Job"):
        for container in containers(pod_spec(workload)):
            # the Secret last: a key in it wins over the ConfigMap's
            assert container["envFrom"] == [
                {"configMapRef": {"name": "vodstore-config"}},
                {"secretRef": {"name": "vodstore-secrets"}},
            ]
            assert not SECRET_NAMES & {e["name"] for e in container.get("env", [])}


def test_compose_holds_no_secret_value():
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert not CREDENTIALS_IN_URL.search(text)
    for name, service in COMPOSE["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        assert not {key for key in environment if re.search(r"KEY|PASS|TOKEN|SECRET", key)}
        assert not SECRET_NAMES & set(environment), name
    for service in (*compose_store_services().values(), COMPOSE["services"]["postgres"]):
        assert service["env_file"] == ".env.production"


def test_the_env_examples_hold_placeholders_and_what_production_requires():
    example, secrets = env_file(ENV_EXAMPLE), env_file(SECRETS_EXAMPLE)
    assert set(secrets) == SECRET_NAMES | MEDIA_SECRET_NAMES
    for values in (example, secrets):
        for name, value in values.items():
            if name in SECRET_NAMES | MEDIA_SECRET_NAMES or re.search(r"PASS", name):
                assert "CHANGE-ME" in value, name
    assert example["DEBUG"] == "false"
    assert PROBE_HOST in example["ALLOWED_HOSTS"].split(",")
    for name in ("SECRET_KEY", "DATABASE_URL", "CACHE_URL", "EVENT_BROKER_URL", "SECURE_HTTPS"):
        assert name in example
    # the URLs' accounts are the ones compose's PostgreSQL and RabbitMQ are given
    assert example["DATABASE_URL"].startswith(f"postgres://{example['POSTGRES_USER']}:")
    assert example["DATABASE_URL"].endswith(f"/{example['POSTGRES_DB']}")
    assert example["EVENT_BROKER_URL"].startswith(f"amqp://{example['RABBITMQ_DEFAULT_USER']}:")
    assert example["EVENT_BROKER_URL"].endswith(f"/{example['RABBITMQ_DEFAULT_VHOST']}")


def _load_settings(environment):
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DATABASES"],
        cwd=ROOT,
        env={**keep, **environment, "DJANGO_SETTINGS_MODULE": "vodstore.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_store_refuses_the_placeholder_key_and_accepts_the_example_with_a_real_one():
    example = env_file(ENV_EXAMPLE)
    refused = _load_settings(example)
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    accepted = _load_settings({**example, "SECRET_KEY": "x7" * 40})
    assert accepted.returncode == 0, accepted.stderr


def test_every_consumer_group_is_an_app_that_consumes():
    def groups(command):
        assert command[:3] == ["python", "manage.py", "consume_events"]
        assert command[3] == "--group"
        return command[4]

    in_compose = [
        groups(s["command"])
        for s in COMPOSE["services"].values()
        if "consume_events" in s.get("command", [])
    ]
    in_kubernetes = [
        groups(c["command"])
        for d in of_kind(rendered(PRODUCTION), "Deployment")
        for c in pod_spec(d)["containers"]
        if "consume_events" in c["command"]
    ]
    for found in (in_compose, in_kubernetes):
        assert sorted(found) == sorted(CONSUMER_GROUPS)


def test_compose_starts_the_store_after_a_successful_migration_and_healthy_services():
    services = COMPOSE["services"]
    store = compose_store_services()
    assert set(store) == {"migrate", "web", "relay"} | {f"consume-{g}" for g in CONSUMER_GROUPS}
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        assert service["restart"] in ("no", "unless-stopped", "always"), name
        image = service.get("image", "")
        if name not in store:
            assert re.search(r":\d+(\.\d+)+", image), f"{name}: pin a version tag"
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    for name, service in store.items():
        depends = service["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        if name != "migrate":
            assert depends["migrate"] == {"condition": "service_completed_successfully"}
        if name == "relay" or name.startswith("consume-"):
            assert depends["rabbitmq"] == {"condition": "service_healthy"}
            assert service["healthcheck"] == {"disable": True}
    health = services["web"]["healthcheck"]["test"]
    assert health[:3] == ["CMD", "python", "-c"] and "/readyz" in health[3]
    assert f"'Host': '{PROBE_HOST}'" in health[3]
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]


def test_the_renderer_refuses_what_it_does_not_know(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(check_deploy.RenderError, match="namePrefix"):
        check_deploy.render_kustomization(tmp_path)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("vodstore", ("vodstore", "")),
        ("registry.example.com:5000/vodstore:1.2", ("registry.example.com:5000/vodstore", ":1.2")),
        ("vodstore@sha256:abc", ("vodstore", "@sha256:abc")),
    ],
)
def test_image_names_split_as_kustomize_reads_them(image, expected):
    assert check_deploy.split_image(image) == expected
