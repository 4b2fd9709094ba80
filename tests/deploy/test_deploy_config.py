"""Issue 7 item 4: checks of docker-compose.yml, its overrides, .env.example, the topic
configuration and the Dockerfiles that need no container engine (part of `make test`).
The stack itself is brought up by test_compose.py (marker `compose`)."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sikader_shared import topics as catalogue
from sikader_shared.topics_job import ConfigError, build_plan, load_config_file
from tests.deploy.support import (
    APPS,
    CLUSTER,
    COMPOSE,
    CONSOLE,
    ENV_EXAMPLE,
    LOCAL,
    ONE_SHOT,
    REQUIRED_SECRETS,
    ROOT,
    SERVICES,
    TOPICS_JSON,
    clean_env,
    compose_cli,
    dockerfile_env,
    env_example,
    filled_env_file,
    interpolations,
    load_yaml,
    settings_env,
)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|PEPPER|TOKEN|JAAS|DATABASE_URL")


def _services(path: Path) -> dict[str, dict[str, Any]]:
    services = load_yaml(path).get("services") or {}
    assert isinstance(services, dict)
    return services


def _seconds(value: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(value)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


# -- the compose specification ------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [[COMPOSE], [COMPOSE, CLUSTER], [COMPOSE, LOCAL]],
    ids=["compose", "compose+cluster", "compose+local-images"],
)
def test_compose_files_validate_against_the_compose_specification(files: list[Path], tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    env_file = filled_env_file(tmp_path / "test.env")
    args = [*cli, "--env-file", str(env_file), "--project-directory", str(ROOT)]
    for f in files:
        args += ["-f", str(f)]
    args += ["--profile", "dev", "--profile", "tools", "config", "-q"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=clean_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_compose_refuses_to_start_without_the_secrets() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    proc = subprocess.run(
        [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "in .env" in proc.stderr  # the `${VAR:?set VAR in .env}` message names what is missing


def test_required_secrets_are_required_and_empty_in_the_example() -> None:
    interp = interpolations(COMPOSE)
    example = env_example()
    for name in REQUIRED_SECRETS:
        assert any(op == ":?" for op, _ in interp.get(name, [])), f"{name} should be ${{{name}:?...}}"
        assert example.get(name) == (True, ""), f".env.example should have an empty `{name}=` line"


# -- healthchecks, restarts, dependencies, shutdown ---------------------------------------------


def test_every_long_running_container_has_a_cmd_shell_healthcheck() -> None:
    for path in (COMPOSE, CLUSTER):
        for name, svc in _services(path).items():
            if "image" not in svc and "build" not in svc:
                continue  # an override of a service defined in docker-compose.yml
            check = svc.get("healthcheck") or {}
            if name in ONE_SHOT:
                assert check.get("disable") is True, f"{name}: a job; its image's HEALTHCHECK should be disabled"
                continue
            test = check.get("test")
            assert test, f"{path.name}: {name} has no healthcheck"
            # CMD-SHELL as one string: through podman's Docker API a CMD list whose arguments
            # contain spaces arrives split (../shared/notes/containers.md)
            assert isinstance(test, str) or (test[0] == "CMD-SHELL" and len(test) == 2), (
                f"{path.name}: {name} healthcheck should be CMD-SHELL with one command string"
            )
            assert check.get("interval") and check.get("timeout") and check.get("retries"), name
            assert svc.get("restart") in ("unless-stopped", "always"), f"{name}: restart policy"


def test_the_kafka_healthcheck_is_the_official_images_command() -> None:
    """The local Apache Kafka image provides the same /opt/kafka/bin script, so the compose
    file's health check (a CMD-SHELL string: podman splits CMD arguments with spaces) is used
    unchanged."""
    assert "healthcheck" not in _services(LOCAL)["kafka"]
    test = _services(COMPOSE)["kafka"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "/opt/kafka/bin/kafka-broker-api-versions.sh" in test[1]


def test_dependencies_start_in_order() -> None:
    services = _services(COMPOSE)
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["topics"]["restart"] == "no"
    for name in SERVICES:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "topics": {"condition": "service_completed_successfully"},
        }, name
        # above the services' graceful shutdown (uvicorn 10 s + background tasks 10 s)
        assert _seconds(services[name]["stop_grace_period"]) >= 30, name
    # the console: once PostgreSQL and the four services are healthy (it calls them per page)
    assert services[CONSOLE]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        **{name: {"condition": "service_healthy"} for name in SERVICES},
    }
    assert _seconds(services[CONSOLE]["stop_grace_period"]) >= 30
    cluster = _services(CLUSTER)
    assert cluster["topics"]["depends_on"] == {
        "kafka-2": {"condition": "service_healthy"},
        "kafka-3": {"condition": "service_healthy"},
    }


def test_services_are_built_from_this_repository() -> None:
    services = _services(COMPOSE)
    for name in (*APPS, "topics"):
        build = services[name]["build"]
        assert build["context"] == "." and build["dockerfile"] == "deploy/Dockerfile", name
        assert build["args"]["SERVICE"] == ("registry" if name == "topics" else name)
        assert "BASE_IMAGE" in build["args"]
        if name != "topics":
            # the listen address inside a container (the code's default is 127.0.0.1)
            assert services[name]["environment"][f"SIKADER_{name.upper()}_HTTP_HOST"] == "0.0.0.0"


def test_third_party_images_are_pinned() -> None:
    for path in (COMPOSE, CLUSTER):
        for name, svc in _services(path).items():
            image = str(svc.get("image", ""))
            if not image or "build" in svc:
                continue
            m = re.search(r"\$\{[A-Z_]+:-([^}]+)\}", image)
            ref = m.group(1) if m else image
            tag = ref.rsplit(":", 1)[-1] if ":" in ref.split("/")[-1] else ""
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {ref} is not pinned"
    volumes = load_yaml(COMPOSE)["volumes"]
    assert "kafka-data" in volumes and "postgres-data" in volumes


def test_kafka_runs_in_kraft_mode() -> None:
    single = _services(COMPOSE)["kafka"]["environment"]
    assert single["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "9093" in single["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert single["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    cluster = _services(CLUSTER)
    voters = {cluster[n]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for n in ("kafka", "kafka-2", "kafka-3")}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for n in ("kafka", "kafka-2", "kafka-3"):
        env = cluster[n]["environment"]
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert cluster["topics"]["environment"]["SIKADER_TOPIC_REPLICATION_FACTOR"] == "3"
    assert cluster["topics"]["environment"]["SIKADER_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    for name in SERVICES:
        assert cluster[name]["environment"]["SIKADER_TOPIC_REPLICATION_FACTOR"] == "3"


def test_the_local_override_swaps_only_two_images() -> None:
    """Apache Kafka and PostgreSQL built locally, and nothing else changed: the services keep
    the idempotent producer and the compose file's own settings."""
    local = _services(LOCAL)
    assert set(local) == {"kafka", "postgres"}
    assert all(set(s) == {"image"} for s in local.values()), local
    base = _services(COMPOSE)
    for name in SERVICES:
        assert base[name]["environment"]["SIKADER_PRODUCER_IDEMPOTENCE"].endswith(":-true}")
        for var in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
            assert var in base[name]["environment"], f"{name}: {var} not passed"


def test_the_services_trust_the_console_as_a_proxy_and_nothing_else() -> None:
    """The console forwards each person's address (X-Forwarded-For); the services believe it only
    from the console's own network (only the console, PostgreSQL and the services are on it),
    never from the published ports' side."""
    services = _services(COMPOSE)
    console_net = services[CONSOLE]["networks"]
    assert list(console_net) == ["console"], "the console shares only its own network with the services"
    for name in SERVICES:
        assert "console" in services[name]["networks"], name
        trusted = services[name]["environment"]["SIKADER_TRUSTED_PROXIES"]
        assert trusted == "${SIKADER_TRUSTED_PROXIES:-console}", trusted
        assert services[CONSOLE]["environment"][f"SIKADER_CONSOLE_{name.upper()}_URL"].startswith(f"http://{name}:")
    members = {name for name, spec in services.items() if "console" in (spec.get("networks") or [])}
    assert members == {CONSOLE, "postgres", *SERVICES}, members
    assert services[CONSOLE]["environment"]["SIKADER_CONSOLE_SECURE_COOKIES"].endswith(":-true}")


# -- secrets ------------------------------------------------------------------------------------


def test_no_secret_is_written_in_a_compose_file() -> None:
    for path in (COMPOSE, CLUSTER, LOCAL):
        for name, svc in _services(path).items():
            env = svc.get("environment") or {}
            assert isinstance(env, dict), f"{path.name}: {name}: environment as a mapping, please"
            for key, value in env.items():
                if SECRET_NAME.search(key) and value not in (None, "") and "FILE" not in key:
                    assert "${" in str(value), f"{path.name}: {name}.{key} has a literal value"


# -- topics -------------------------------------------------------------------------------------


def _topic_literals() -> set[str]:
    pattern = re.compile(r"""["'](sikader\.[a-z][a-z0-9.-]*\.v\d+|sikader\.dlq\.[a-z]+)["']""")
    found: set[str] = set()
    for base in (ROOT / "shared" / "sikader_shared", *(ROOT / "services" / s for s in SERVICES)):
        for path in base.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_topic_job_creates_every_topic_the_code_uses() -> None:
    from sikader_shared.events.base import EVENT_MODELS

    plans, warnings = build_plan(load_config_file(TOPICS_JSON), env={})
    assert warnings == [], warnings  # the file lists every contract topic itself
    planned = {p.name: p for p in plans}
    used = set(catalogue.all_topic_names()) | {m.topic for m in EVENT_MODELS.values()} | _topic_literals()
    missing = sorted(used - set(planned))
    assert not missing, f"topics the code uses but deploy/kafka/topics.json does not create: {missing}"
    for service in SERVICES:
        assert catalogue.dlq_topic(service) in planned
    assert catalogue.AUTH in planned
    for plan in plans:
        assert not plan.name.startswith("sikader.epoch."), "epoch markers belong to the services"
        assert plan.partitions >= catalogue.MIN_PARTITIONS, plan.name
        assert "retention.ms" in plan.configs, f"{plan.name}: no retention"
    # the job gets this file
    topics = _services(COMPOSE)["topics"]
    assert "./deploy/kafka/topics.json:/etc/sikader/topics.json:ro" in topics["volumes"]
    assert topics["command"][:3] == ["python", "-m", "sikader_shared.topics_job"]
    assert "/etc/sikader/topics.json" in topics["command"]


def test_topic_plan_environment_overrides_and_guards() -> None:
    data = load_config_file(TOPICS_JSON)
    plans, _ = build_plan(data, env={"SIKADER_TOPIC_REPLICATION_FACTOR": "3", "SIKADER_TOPIC_MIN_INSYNC_REPLICAS": "2"})
    assert {p.replication_factor for p in plans} == {3}
    assert {p.configs["min.insync.replicas"] for p in plans} == {"2"}
    private = next(p for p in plans if p.name == catalogue.CADRE_PRIVATE)
    assert private.configs["retention.ms"] == "2592000000"  # the topic's own entry wins
    with pytest.raises(ConfigError, match="above the replication factor"):
        build_plan(data, env={"SIKADER_TOPIC_MIN_INSYNC_REPLICAS": "2"})
    with pytest.raises(ConfigError, match="at least 6"):
        build_plan(data, env={"SIKADER_TOPIC_PARTITIONS": "3"})
    with pytest.raises(ConfigError, match="unknown keys"):
        build_plan({"topics": [{"name": "x", "retention": 1}]}, env={})
    plans, warnings = build_plan({"topics": ["sikader.epoch.registry"]}, env={})
    assert "sikader.epoch.registry" not in {p.name for p in plans}
    assert any("epoch" in w for w in warnings)
    assert {p.name for p in plans} == set(catalogue.all_topic_names())


@pytest.mark.integration
def test_the_topic_job_against_the_test_broker(broker: Any) -> None:
    """Creates every topic, is idempotent, and --check agrees (on the local broker this also
    exercises the 'AlterConfigs not supported' path)."""
    env = {**clean_env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "PYTHONPATH": str(ROOT / "shared")}
    cmd = [sys.executable, "-m", "sikader_shared.topics_job", "--wait", "30"]
    first = subprocess.run([*cmd, "--config", str(TOPICS_JSON)], capture_output=True, text=True, env=env, timeout=90)
    assert first.returncode == 0, first.stdout + first.stderr
    assert '"msg": "topics ready"' in first.stdout
    second = subprocess.run([*cmd, "--config", str(TOPICS_JSON)], capture_output=True, text=True, env=env, timeout=90)
    assert second.returncode == 0, second.stdout + second.stderr
    assert '"topics_created": []' in second.stdout
    check = subprocess.run([*cmd, "--check"], capture_output=True, text=True, env=env, timeout=90)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_topic_job_fails_when_no_broker_answers() -> None:
    env = {**clean_env(), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PYTHONPATH": str(ROOT / "shared")}
    proc = subprocess.run(
        [sys.executable, "-m", "sikader_shared.topics_job", "--wait", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "not reachable" in proc.stdout


# -- environment variables ----------------------------------------------------------------------


def test_every_setting_the_services_read_is_set_in_compose_or_documented() -> None:
    services = _services(COMPOSE)
    documented = env_example()
    image_env = dockerfile_env()
    problems = []
    for service in APPS:
        routed = set((services[service].get("environment") or {}).keys())
        for name in settings_env(service):
            if name not in routed and name not in documented and name not in image_env:
                problems.append(f"{service}: {name}")
    assert not problems, "settings neither set in docker-compose.yml nor documented in .env.example: " + ", ".join(
        problems
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _norm(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        import json

        return json.dumps(_plain(value), separators=(",", ":"))
    return str(_plain(value))


def test_documented_defaults_match_the_code_and_the_compose_file() -> None:
    documented = env_example()
    interp: dict[str, list[tuple[str, str]]] = {}
    for path in (COMPOSE, CLUSTER):
        for k, v in interpolations(path).items():
            interp.setdefault(k, []).extend(v)
    routed = {k for s in APPS for k in (_services(COMPOSE)[s].get("environment") or {})}
    problems = []
    for service in APPS:
        for name, default in settings_env(service).items():
            if name in routed or name not in documented or documented[name][0]:
                continue
            shown = documented[name][1].replace(" ", "")
            if name.endswith(("_HTTP_PORT", "_HTTP_HOST", "_DATABASE_URL")) or name == "SIKADER_VAR_DIR":
                continue  # documented with the value compose / the image sets
            if _norm(default).replace(" ", "") != shown and not (
                isinstance(default, float) and shown and float(shown) == default
            ):
                problems.append(f"{name}: .env.example says {shown!r}, the code {default!r}")
    for name, uses in interp.items():
        if name not in documented:
            problems.append(f"{name}: used in a compose file, not in .env.example")
            continue
        active, shown = documented[name]
        defaults = {d for op, d in uses if op == ":-"}
        if not active and defaults and shown not in defaults:
            problems.append(f"{name}: .env.example says {shown!r}, the compose file {sorted(defaults)}")
    assert not problems, "\n".join(problems)


def test_every_active_line_of_the_example_is_used() -> None:
    used = set(interpolations(COMPOSE)) | set(interpolations(CLUSTER)) | {"COMPOSE_PROJECT_NAME"}
    unused = [n for n, (active, _) in env_example().items() if active and n not in used]
    assert not unused, f".env.example sets variables no compose file reads: {unused}"


# -- Dockerfiles --------------------------------------------------------------------------------


def _copy_sources(dockerfile: Path) -> list[str]:
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ")
    sources: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].upper() not in ("COPY", "ADD"):
            continue
        args = [a for a in parts[1:] if not a.startswith("--")]
        if any(a.startswith("--from") for a in parts[1:]):
            continue
        sources.extend(args[:-1])
    return sources


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        p = pattern.rstrip("/")
        # "**/x" matches x at any depth; a directory pattern excludes everything below it
        names = [pre.rsplit("/", 1)[-1] for pre in prefixes] if p.startswith("**/") else prefixes
        if any(fnmatch.fnmatch(n, p.removeprefix("**/")) for n in names):
            return True
    return False


def test_dockerfile_copy_sources_exist_and_reach_the_build_context() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    sources = _copy_sources(ROOT / "deploy" / "Dockerfile")
    assert sources, "no COPY found in deploy/Dockerfile"
    for service in APPS:
        for src in sources:
            rel = src.replace("${SERVICE}", service)
            assert (ROOT / rel).exists(), f"deploy/Dockerfile: COPY {rel} does not exist"
            assert not _ignored(rel, ignore), f"deploy/Dockerfile: COPY {rel} is excluded by .dockerignore"
    local = ROOT / "deploy" / "local-images"
    for src in _copy_sources(local / "postgres.Dockerfile"):
        assert (local / src).exists(), f"postgres.Dockerfile: COPY {src} does not exist (context deploy/local-images)"
    # tansu.Dockerfile's and kafka.Dockerfile's contexts are temporary directories that build.sh
    # fills (the broker binary; the jars, kafka/bin, kafka/run and the Log4j 2 config)
    for script in [local / "kafka" / "run", *sorted((local / "kafka" / "bin").glob("*.sh"))]:
        assert os.access(script, os.X_OK), f"{script} must be executable"
    assert (local / "kafka" / "bin" / "kafka-broker-api-versions.sh").exists()  # the compose health check


def test_files_the_compose_file_mounts_exist() -> None:
    init = ROOT / "deploy" / "postgres" / "initdb.d"
    scripts = sorted(init.glob("*.sh"))
    assert scripts, "no PostgreSQL init script"
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} must be executable (the postgres image runs it)"
    assert TOPICS_JSON.is_file()
    assert (ROOT / "deploy" / "kafka" / "tls").is_dir()
    assert (ROOT / "deploy" / "docker-entrypoint.sh").is_file()
    text = scripts[0].read_text(encoding="utf-8")
    for service in APPS:
        assert f"SIKADER_{service.upper()}_DB_PASSWORD" in text or "SIKADER_${service^^}_DB_PASSWORD" in text
        url = _services(COMPOSE)[service]["environment"][f"SIKADER_{service.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql://sikader_{service}:${{SIKADER_{service.upper()}_DB_PASSWORD")
        assert url.endswith(f"@postgres:5432/sikader_{service}")


def test_one_apache_kafka_version_everywhere() -> None:
    """deploy/kafka/version.env pins Apache Kafka once: the jars of the tests and `make run`
    (through deploy/kafka/pom.xml), the compose files' image default and .env.example agree."""
    from sikader_shared.local_kafka import kafka_version

    version = kafka_version()
    assert re.fullmatch(r"4\.\d+\.\d+", version)
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    assert pom.count("<version>${kafka.version}</version>") == 2  # the broker and the tools
    for path in (COMPOSE, CLUSTER, ENV_EXAMPLE):
        tags = set(re.findall(r"apache/kafka:([\w.\-]+)", path.read_text()))
        assert tags == {version}, f"{path.name}: apache/kafka tags {tags}, pinned {version}"
    local = set(re.findall(r"localhost/sikader-kafka:([\w.\-]+)", LOCAL.read_text()))
    assert local == {version}, f"compose.local-images.yml: sikader-kafka tags {local}, pinned {version}"
