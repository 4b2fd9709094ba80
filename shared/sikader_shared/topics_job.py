"""One-shot topic job: create and check the contract topics from a configuration file.

    python -m sikader_shared.topics_job --config deploy/kafka/topics.json [--check]
        [--wait 180] [--grow-partitions]

Works against Apache Kafka (one broker or a cluster) and the local Kafka-compatible broker
alike, and is idempotent: topics that exist are left alone (their partition count and
replication factor are checked and reported), missing ones are created with the partitions,
replication factor and topic configs (retention, ...) of the file. Topic configs of existing
topics are compared with the file and changed with AlterConfigs where the broker supports it
(Apache Kafka); where it does not (the local broker), that is logged and skipped. Exit code 0
when every topic exists, 1 when one is missing or could not be created, 2 for a bad
configuration file.

Every topic of the public contract (`sikader_shared.topics.all_topic_names()`) is created even
when the file forgets one (with the file's defaults, and a warning). The marker topics
`sikader.epoch.<service>` are never created here: each service creates its own after it has
(re-)published its events, which is how it notices a broker that lost its data.

Settings (environment, the same variables as the services): KAFKA_BOOTSTRAP_SERVERS,
KAFKA_SECURITY_PROTOCOL and the KAFKA_SASL_* / KAFKA_SSL_* variables. These replace the file's
defaults when set: SIKADER_TOPIC_PARTITIONS, SIKADER_TOPIC_REPLICATION_FACTOR, and
SIKADER_TOPIC_MIN_INSYNC_REPLICAS (adds `min.insync.replicas` to every topic). A topic's own
entry in the file wins over both.

The file (JSON; YAML when PyYAML is installed and the name ends in .yaml/.yml):

    {"defaults": {"partitions": 6, "replication_factor": 1, "configs": {"retention.ms": "-1"}},
     "topics": [{"name": "sikader.auth.v1", "configs": {"retention.ms": "-1"}}, ...]}

Keys starting with "_" and "description" are comments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, UnsupportedVersionError, for_code

from sikader_shared import topics as catalogue
from sikader_shared.kafka import security_kwargs, wait_listed
from sikader_shared.logging import configure_logging
from sikader_shared.settings import ServiceSettings

log = logging.getLogger("sikader.topics_job")

TOPIC_ALREADY_EXISTS = 36
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: set on the topic itself
_COMMENT_KEYS = ("description",)


class ConfigError(Exception):
    """The configuration file (or an environment override) is not usable."""


@dataclass
class TopicPlan:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    configs_applied: list[str] = field(default_factory=list)
    configs_skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        # key names that do not collide with logging.LogRecord attributes ("created")
        return {
            "topics_created": self.created,
            "topics_existing": self.existing,
            "topics_grown": self.grown,
            "configs_applied": self.configs_applied,
            "configs_skipped": self.configs_skipped,
            "warning_count": len(self.warnings),
            "error_count": len(self.errors),
        }


# -- configuration ----------------------------------------------------------------------------


def load_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(f"{path}: YAML needs PyYAML; use the JSON file instead") from exc
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object")
    return data


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{what} must be an integer, not {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{what} must be an integer, not {value!r}") from exc


def _configs(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what}.configs must be an object of strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if str(k).startswith("_"):
            continue
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _env_int(env: dict[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    return _int(raw, name) if raw else None


def build_plan(
    data: dict[str, Any], env: dict[str, str] | None = None, from_file: bool = True
) -> tuple[list[TopicPlan], list[str]]:
    """The topics to create/check, and warnings. Raises ConfigError. Without a file
    (`from_file=False`, `data={}`) the plan is the built-in catalogue with the defaults."""
    env = dict(os.environ) if env is None else env
    warnings: list[str] = []
    unknown = [k for k in data if not k.startswith("_") and k not in ("defaults", "topics", *_COMMENT_KEYS)]
    if unknown:
        raise ConfigError(f"unknown keys at the top level: {', '.join(unknown)}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError("defaults must be an object")
    partitions = _int(defaults.get("partitions", catalogue.MIN_PARTITIONS), "defaults.partitions")
    replication = _int(defaults.get("replication_factor", 1), "defaults.replication_factor")
    default_configs = _configs(defaults.get("configs"), "defaults")
    partitions = _env_int(env, "SIKADER_TOPIC_PARTITIONS") or partitions
    replication = _env_int(env, "SIKADER_TOPIC_REPLICATION_FACTOR") or replication
    min_isr = _env_int(env, "SIKADER_TOPIC_MIN_INSYNC_REPLICAS")
    if min_isr is not None:
        default_configs["min.insync.replicas"] = str(min_isr)

    entries = data.get("topics") or []
    if not isinstance(entries, list):
        raise ConfigError("topics must be a list")
    plans: dict[str, TopicPlan] = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(f"topics[{i}] needs a name")
        name = entry["name"]
        bad = [
            k
            for k in entry
            if not k.startswith("_")
            and k not in ("name", "partitions", "replication_factor", "configs", *_COMMENT_KEYS)
        ]
        if bad:
            raise ConfigError(f"topic {name}: unknown keys {', '.join(bad)}")
        if name.startswith("sikader.epoch."):
            warnings.append(f"{name}: epoch marker topics are created by the services themselves; ignored")
            continue
        if name in plans:
            raise ConfigError(f"topic {name} is listed twice")
        plans[name] = TopicPlan(
            name=name,
            partitions=_int(entry.get("partitions", partitions), f"{name}.partitions"),
            replication_factor=_int(entry.get("replication_factor", replication), f"{name}.replication_factor"),
            configs={**default_configs, **_configs(entry.get("configs"), name)},
        )
    for name in catalogue.all_topic_names():
        if name not in plans:
            if from_file:
                warnings.append(f"{name}: a contract topic missing from the configuration; created with the defaults")
            plans[name] = TopicPlan(name, partitions, replication, dict(default_configs))

    for plan in plans.values():
        if plan.partitions < catalogue.MIN_PARTITIONS and plan.name in catalogue.all_topic_names():
            raise ConfigError(
                f"{plan.name}: {plan.partitions} partitions; the contract needs at least {catalogue.MIN_PARTITIONS}"
            )
        if plan.partitions < 1 or plan.replication_factor < 1:
            raise ConfigError(f"{plan.name}: partitions and replication_factor must be at least 1")
        isr = plan.configs.get("min.insync.replicas")
        if isr is not None and _int(isr, f"{plan.name} min.insync.replicas") > plan.replication_factor:
            raise ConfigError(
                f"{plan.name}: min.insync.replicas={isr} is above the replication factor {plan.replication_factor}:"
                " every write with acks=all would fail"
            )
    return list(plans.values()), warnings


# -- the broker -------------------------------------------------------------------------------


async def connect(settings: ServiceSettings, wait_s: float) -> AIOKafkaAdminClient:
    """An admin client that has answered a metadata request, retrying until `wait_s`."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    last_logged = 0.0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="sikader-topics-job",
            request_timeout_ms=15000,
            **security_kwargs(settings),
        )
        try:
            await asyncio.wait_for(admin.start(), 15)
            await asyncio.wait_for(admin.list_topics(), 15)
            return admin
        except (KafkaError, OSError, TimeoutError) as exc:
            await admin.close()
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(
                    f"broker {settings.kafka_bootstrap_servers} not reachable after {wait_s:.0f} s: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if now - last_logged > 5:
                log.info(
                    "waiting for the broker",
                    extra={"bootstrap": settings.kafka_bootstrap_servers, "attempt": attempt, "error": str(exc)},
                )
                last_logged = now
            await asyncio.sleep(min(2.0, max(0.1, deadline - now)))


async def _wait_for_brokers(admin: AIOKafkaAdminClient, needed: int, wait_s: float) -> int:
    """A new cluster's brokers register one by one: wait until `needed` are there."""
    deadline = time.monotonic() + wait_s
    while True:
        count = len((await admin.describe_cluster()).get("brokers") or [])
        if count >= needed or time.monotonic() >= deadline:
            return count
        log.info("waiting for brokers to register", extra={"brokers": count, "needed": needed})
        await asyncio.sleep(2)


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    out = []
    for item in getattr(response, "topic_errors", []) or []:
        name, code = item[0], item[1]
        message = item[2] if len(item) > 2 else None
        out.append((str(name), int(code), message))
    return out


async def create_missing(admin: AIOKafkaAdminClient, plans: list[TopicPlan], report: Report) -> None:
    existing = set(await admin.list_topics())
    missing = [p for p in plans if p.name not in existing]
    report.existing = [p.name for p in plans if p.name in existing]
    if not missing:
        return
    needed = max(p.replication_factor for p in missing)
    brokers = await _wait_for_brokers(admin, needed, 60)
    if brokers < needed:
        report.errors.append(
            f"replication factor {needed} needs {needed} brokers; the cluster has {brokers}"
            " (set SIKADER_TOPIC_REPLICATION_FACTOR)"
        )
        return
    response = await admin.create_topics(
        [NewTopic(p.name, p.partitions, p.replication_factor, topic_configs=dict(p.configs)) for p in missing]
    )
    retry_without_configs: list[TopicPlan] = []
    by_name = {p.name: p for p in missing}
    for name, code, message in _topic_errors(response):
        if code == 0:
            report.created.append(name)
        elif code == TOPIC_ALREADY_EXISTS:
            report.existing.append(name)  # someone else (a service) was faster
        elif code == INVALID_CONFIG and by_name[name].configs:
            retry_without_configs.append(by_name[name])
            report.warnings.append(f"{name}: broker refused the topic configs ({message}); created without them")
        elif code == INVALID_REPLICATION_FACTOR:
            report.errors.append(f"{name}: invalid replication factor {by_name[name].replication_factor}: {message}")
        else:
            report.errors.append(f"{name}: {for_code(code).__name__}: {message}")
    if retry_without_configs:
        response = await admin.create_topics(
            [NewTopic(p.name, p.partitions, p.replication_factor) for p in retry_without_configs]
        )
        for name, code, message in _topic_errors(response):
            if code in (0, TOPIC_ALREADY_EXISTS):
                report.created.append(name)
            else:
                report.errors.append(f"{name}: {for_code(code).__name__}: {message}")


async def check_layout(
    admin: AIOKafkaAdminClient, plans: list[TopicPlan], report: Report, grow: bool, check_only: bool
) -> None:
    """Every topic present, with enough partitions; replication factor as planned."""
    # Describe only topics that exist: a metadata request naming a missing topic makes some
    # brokers (the local one; Kafka with auto.create.topics.enable) create it with defaults.
    present = set(await admin.list_topics())
    names = [p.name for p in plans if p.name in present]
    if check_only:
        report.existing = names
    described = {t["topic"]: t for t in await admin.describe_topics(names)} if names else {}
    to_grow: dict[str, NewPartitions] = {}
    for plan in plans:
        info = described.get(plan.name)
        if info is None or info.get("error_code") or not info.get("partitions"):
            code = info.get("error_code") if info else None
            report.errors.append(f"{plan.name}: missing" + (f" (error {code})" if code else ""))
            continue
        parts = info["partitions"]
        count = len(parts)
        replicas = min(len(p.get("replicas") or []) for p in parts)
        if count < plan.partitions:
            if count < catalogue.MIN_PARTITIONS and plan.name in catalogue.all_topic_names():
                message = f"{plan.name}: {count} partitions, the contract needs at least {catalogue.MIN_PARTITIONS}"
            else:
                message = f"{plan.name}: {count} partitions, the configuration says {plan.partitions}"
            if grow and not check_only:
                to_grow[plan.name] = NewPartitions(total_count=plan.partitions)
            elif count < catalogue.MIN_PARTITIONS and plan.name in catalogue.all_topic_names():
                report.errors.append(message + " (run with --grow-partitions)")
            else:
                report.warnings.append(message + " (--grow-partitions adds them; keys then map to other partitions)")
        if replicas != plan.replication_factor:
            report.warnings.append(
                f"{plan.name}: replication factor {replicas}, the configuration says {plan.replication_factor}"
                " (change it with kafka-reassign-partitions; this job does not move replicas)"
            )
    if to_grow:
        await admin.create_partitions(to_grow)
        report.grown.extend(sorted(to_grow))


def _entries(resource: Any) -> list[dict[str, Any]]:
    if isinstance(resource, dict):
        return list(resource.get("config_entries") or [])
    return [
        {"config_names": e[0], "config_value": e[1], "config_source": e[3] if len(e) > 3 else None}
        for e in (resource[4] if len(resource) > 4 else [])
    ]


async def apply_configs(admin: AIOKafkaAdminClient, plans: list[TopicPlan], report: Report, check_only: bool) -> None:
    """Bring each topic's configs to the file's values (AlterConfigs), keeping other configs
    set on the topic by hand. Skipped, with a log line, where the broker cannot do it."""
    wanted = [p for p in plans if p.configs]
    if not wanted:
        return
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, p.name) for p in wanted])
    except (IncompatibleBrokerVersion, UnsupportedVersionError) as exc:
        report.configs_skipped = f"DescribeConfigs not supported by the broker ({type(exc).__name__})"
        return
    current: dict[str, dict[str, tuple[str | None, int | None]]] = {}
    for response in responses:
        obj = response.to_object() if hasattr(response, "to_object") else {}
        for resource in obj.get("resources", []):
            name = resource.get("resource_name")
            if resource.get("error_code"):
                report.warnings.append(f"{name}: DescribeConfigs error {resource.get('error_code')}")
                continue
            current[str(name)] = {
                e["config_names"]: (e.get("config_value"), e.get("config_source")) for e in _entries(resource)
            }
    changes: list[ConfigResource] = []
    for plan in wanted:
        have = current.get(plan.name)
        if have is None:
            continue
        differs = {k: v for k, v in plan.configs.items() if (have.get(k) or (None, None))[0] != v}
        if not differs:
            continue
        if check_only:
            report.warnings.append(f"{plan.name}: configs differ from the file: {sorted(differs)}")
            continue
        # AlterConfigs replaces the whole set of topic-level configs: keep the others.
        keep = {k: v for k, (v, source) in have.items() if source == DYNAMIC_TOPIC_CONFIG and v is not None}
        changes.append(ConfigResource(ConfigResourceType.TOPIC, plan.name, configs={**keep, **plan.configs}))
    if not changes:
        return
    try:
        results = await admin.alter_configs(changes)
    except (IncompatibleBrokerVersion, UnsupportedVersionError) as exc:
        report.configs_skipped = (
            f"AlterConfigs not supported by the broker ({type(exc).__name__}); topic configs of existing topics"
            " were left as they are (new topics got them at creation)"
        )
        return
    failed: set[str] = set()
    for result in results:
        obj = result.to_object() if hasattr(result, "to_object") else {}
        for resource in obj.get("resources", []):
            if resource.get("error_code"):
                failed.add(str(resource.get("resource_name")))
                report.warnings.append(
                    f"{resource.get('resource_name')}: AlterConfigs error {resource.get('error_code')}:"
                    f" {resource.get('error_message')}"
                )
    report.configs_applied.extend(c.name for c in changes if c.name not in failed)


async def run(plans: list[TopicPlan], settings: ServiceSettings, wait_s: float, grow: bool, check_only: bool) -> Report:
    report = Report()
    admin = await connect(settings, wait_s)
    try:
        if not check_only:
            await create_missing(admin, plans, report)
            await wait_listed(admin, report.created)
            if report.errors:
                return report
        await check_layout(admin, plans, report, grow, check_only)
        await apply_configs(admin, plans, report, check_only)
    finally:
        await admin.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sikader_shared.topics_job",
        description="Create and check the sikader topics (partitions, replication factor, retention).",
    )
    parser.add_argument("--config", type=Path, help="topic configuration file (default: the built-in catalogue)")
    parser.add_argument("--check", action="store_true", help="only check: create and change nothing")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the broker (default 120)")
    parser.add_argument(
        "--grow-partitions",
        action="store_true",
        help="add partitions to topics that have fewer than configured (changes which partition a key maps to)",
    )
    args = parser.parse_args(argv)

    settings = ServiceSettings(service_name="topics-job")
    configure_logging("topics-job", settings.log_level, as_json=True)
    try:
        data = load_config_file(args.config) if args.config else {}
        plans, warnings = build_plan(data, from_file=args.config is not None)
        security_kwargs(settings)  # validates KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_MECHANISM early
    except (ConfigError, OSError, ValueError) as exc:
        log.error("bad topic configuration", extra={"error": str(exc)})
        return 2
    for warning in warnings:
        log.warning(warning)
    started = time.monotonic()
    try:
        report = asyncio.run(run(plans, settings, args.wait, args.grow_partitions, args.check))
    except (TimeoutError, KafkaError, OSError) as exc:
        log.error("topic job failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return 1
    for warning in report.warnings:
        log.warning(warning)
    if report.configs_skipped:
        log.info("topic configs skipped: " + report.configs_skipped)
    for error in report.errors:
        log.error(error)
    ok = not report.errors
    log.info(
        "topics ready" if ok else "topics not ready",
        extra={
            "mode": "check" if args.check else "apply",
            "topics": len(plans),
            "seconds": round(time.monotonic() - started, 2),
            **report.as_dict(),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
