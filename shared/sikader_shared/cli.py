"""The command line every service offers (`sikader-<service> ...`): migrate, serve, API
keys, DLQ inspection and re-drive, outbox re-publishing, broker access (`kafka`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlmodel import col, select

from sikader_shared import topics
from sikader_shared.auth import issue_key, list_keys, revoke_key
from sikader_shared.db import DlqRecord
from sikader_shared.envelope import encode_headers, headers_to_dict
from sikader_shared.errors import ServiceError
from sikader_shared.kafka import producer_for, security_kwargs
from sikader_shared.kafka_access import AccessError
from sikader_shared.kafka_access_cli import add_kafka_parser, run_kafka_command
from sikader_shared.migrations import upgrade_head
from sikader_shared.service import ServiceDefinition, ServiceRuntime
from sikader_shared.uow import Actor

DLQ_HEADERS = ("dlq_topic", "dlq_partition", "dlq_offset", "dlq_error", "dlq_attempts", "dlq_consumer")


def build_parser(service: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sikader-{service}", description=f"sikader {service} service")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (Alembic) up to the newest")
    serve = sub.add_parser("serve", help="run the HTTP API and the consumers")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    keys = sub.add_parser("keys", help="API keys of OPD clients").add_subparsers(dest="action", required=True)
    issue = keys.add_parser("issue", help="issue a key (printed once)")
    issue.add_argument("--client", required=True, help="OPD client id, e.g. dinkes")
    issue.add_argument("--scopes", required=True, help="comma-separated scopes")
    issue.add_argument("--label", default="")
    keys.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys.add_parser("revoke", help="revoke a key everywhere")
    revoke.add_argument("key_id")
    revoke.add_argument("--reason", default="")

    dlq = sub.add_parser("dlq", help=f"the dead-letter topic sikader.dlq.{service}").add_subparsers(
        dest="action", required=True
    )
    dlq_list = dlq.add_parser(
        "list", help="list dead-lettered messages with their reasons (the topic's, then those kept in the database)"
    )
    dlq_list.add_argument("--limit", type=int, default=100)
    inspect = dlq.add_parser("inspect", help="show one message: headers and body")
    inspect.add_argument("partition", type=int)
    inspect.add_argument("offset", type=int)
    redrive = dlq.add_parser("redrive", help="publish messages back to their original topic")
    redrive.add_argument("--partition", type=int)
    redrive.add_argument("--offset", type=int)
    redrive.add_argument("--all", action="store_true")
    redrive.add_argument(
        "--kept", action="store_true", help="the dead letters the DLQ topic did not take (kept in the database)"
    )

    outbox = sub.add_parser("outbox", help="the transactional outbox").add_subparsers(dest="action", required=True)
    repub = outbox.add_parser("republish", help="publish retained events again (consumers skip duplicates)")
    repub.add_argument("--since", help="ISO date or datetime (UTC); default: everything retained")
    outbox.add_parser("status", help="backlog and totals")
    add_kafka_parser(sub)
    return p


def run_cli(definition_factory: Callable[[], ServiceDefinition], argv: list[str] | None = None) -> None:
    definition = definition_factory()
    args = build_parser(definition.name).parse_args(argv)
    if args.command == "migrate":
        upgrade_head(definition.service_dir, definition.settings.effective_database_url())
        print(f"{definition.name}: database migrated")
        return
    if args.command == "serve":
        import uvicorn

        from sikader_shared.service import create_service_app

        settings = definition.settings
        uvicorn.run(
            create_service_app(definition),
            host=args.host or settings.http_host,
            port=args.port or settings.http_port,
            log_config=None,
            timeout_graceful_shutdown=10,
            # the client address comes from sikader's own trusted-proxy setting (SIKADER_TRUSTED_PROXIES),
            # not from uvicorn's, which would believe X-Forwarded-For from any local peer
            proxy_headers=False,
        )
        return
    try:
        if args.command == "kafka":
            result = run_kafka_command(definition.settings, args)
        else:
            result = asyncio.run(_dispatch(definition, args))
    except AccessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    if result is not None:
        print(json.dumps(result, indent=2, default=str) if not isinstance(result, str) else result)


async def _dispatch(definition: ServiceDefinition, args: argparse.Namespace) -> Any:
    runtime = ServiceRuntime(definition)
    operator = Actor(client_id="operator-cli")
    try:
        if args.command == "keys":
            if args.action == "issue":
                async with runtime.uow(actor=operator) as uow:
                    key_id, key = await issue_key(uow, args.client, _split(args.scopes), args.label)
                    await uow.commit()
                return {"key_id": key_id, "client_id": args.client, "key": key}
            if args.action == "list":
                async with runtime.sessions() as session:
                    return await list_keys(session)
            if args.action == "revoke":
                async with runtime.uow(actor=operator) as uow:
                    await revoke_key(uow, args.key_id, args.reason)
                    await uow.commit()
                return {"revoked": args.key_id}
        if args.command == "outbox":
            if args.action == "republish":
                since = _parse_since(args.since) if args.since else None
                return {"queued": await runtime.relay.mark_for_republish(since)}
            return {"backlog": await runtime.relay.backlog()}
        if args.command == "dlq":
            return await _dlq(runtime, args)
    finally:
        await runtime.engine.dispose()
    return None


def _split(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


def _parse_since(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


async def read_dlq(
    bootstrap: str, topic: str, limit: int = 10_000, security: dict[str, Any] | None = None
) -> list[Any]:
    """Every message on a DLQ topic (from the beginning), without joining a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50, **(security or {})
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        idle = 0
        while len(out) < limit and idle < 3:
            batch = await consumer.getmany(timeout_ms=300, max_records=1000)
            if not batch:
                idle += 1
                continue
            idle = 0
            for records in batch.values():
                out.extend(records)
        return out[:limit]
    finally:
        await consumer.stop()


async def _dlq(runtime: ServiceRuntime, args: argparse.Namespace) -> Any:
    if args.action == "redrive" and args.kept:
        return await _redrive_kept(runtime)
    bootstrap = runtime.settings.kafka_bootstrap_servers
    topic = topics.dlq_topic(runtime.name)
    records = await read_dlq(bootstrap, topic, security=security_kwargs(runtime.settings))

    def summary(r: Any) -> dict[str, Any]:
        h = headers_to_dict(r.headers)
        omitted = {k: h[k] for k in ("dlq_body_omitted", "dlq_body_size", "dlq_body_sha256") if k in h}
        return {
            "where": "topic",
            "partition": r.partition,
            "offset": r.offset,
            "ce_id": h.get("ce_id"),
            "ce_type": h.get("ce_type"),
            **{k: h.get(k) for k in DLQ_HEADERS},
            **omitted,
        }

    if args.action == "list":
        return [summary(r) for r in records[: args.limit]] + await _kept(runtime, args.limit)
    if args.action == "inspect":
        for r in records:
            if r.partition == args.partition and r.offset == args.offset:
                body = (r.value or b"").decode("utf-8", errors="replace")
                return {**summary(r), "headers": headers_to_dict(r.headers), "body": body}
        raise ServiceError(f"no DLQ message at partition {args.partition} offset {args.offset}")
    chosen = [r for r in records if args.all or (r.partition == args.partition and r.offset == args.offset)]
    if not chosen:
        raise ServiceError("nothing to re-drive: give --partition and --offset, --all, or --kept")
    producer = producer_for(runtime.settings)
    await producer.start()
    redriven = 0
    try:
        for r in chosen:
            h = headers_to_dict(r.headers)
            original = h.get("dlq_topic")
            if not original:
                continue
            key, value, headers = r.key, r.value, {k: v for k, v in h.items() if not k.startswith("dlq_")}
            if h.get("dlq_body_omitted") == "true":  # the body is still on its own topic
                source = await _read_one(runtime, original, int(h["dlq_partition"]), int(h["dlq_offset"]))
                if source is None:
                    raise ServiceError(f"{original}[{h['dlq_partition']}]@{h['dlq_offset']} is no longer on its topic")
                key, value = source.key, source.value
            await producer.send_and_wait(original, value=value, key=key, headers=encode_headers(headers))
            redriven += 1
    finally:
        await producer.stop()
    return {"redriven": redriven}


async def _kept(runtime: ServiceRuntime, limit: int) -> list[dict[str, Any]]:
    """Dead letters the DLQ topic did not take: kept in the service's DLQ log."""
    async with runtime.sessions() as session:
        rows = (
            await session.exec(
                select(DlqRecord).where(col(DlqRecord.published).is_(False)).order_by(col(DlqRecord.id)).limit(limit)
            )
        ).all()
    return [
        {
            "where": "database",
            "id": row.id,
            "dlq_topic": row.topic,
            "dlq_partition": row.partition,
            "dlq_offset": row.offset,
            "dlq_error": row.error,
            "dlq_attempts": row.attempts,
            "ce_id": row.event_id,
            "publish_error": row.publish_error,
            "size": len(row.message_value or b""),
        }
        for row in rows
    ]


async def _redrive_kept(runtime: ServiceRuntime) -> dict[str, Any]:
    """Each kept dead letter back to its original topic (as `redrive` does for the topic's),
    then marked re-driven in the log."""
    async with runtime.sessions() as session:
        rows = (await session.exec(select(DlqRecord).where(col(DlqRecord.published).is_(False)))).all()
        if not rows:
            return {"redriven": 0}
        producer = producer_for(runtime.settings)
        await producer.start()
        try:
            for row in rows:
                headers = [(k, v.encode()) for k, v in (row.message_headers or [])]
                await producer.send_and_wait(row.topic, value=row.message_value, key=row.message_key, headers=headers)
                row.published = True
                row.publish_error = f"re-driven to {row.topic} at {datetime.now(UTC).isoformat()}"
                session.add(row)
        finally:
            await producer.stop()
        await session.commit()
    return {"redriven": len(rows)}


async def _read_one(runtime: ServiceRuntime, topic: str, partition: int, offset: int) -> Any:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **security_kwargs(runtime.settings),
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        records = batch.get(tp, [])
        return records[0] if records and records[0].offset == offset else None
    finally:
        await consumer.stop()
