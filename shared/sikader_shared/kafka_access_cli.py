"""`sikader-<service> kafka ...`: broker access on the secure broker, run with the admin's
credentials (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE, KAFKA_BOOTSTRAP_SERVERS).

    kafka agency add --client dinkes      an agency's SCRAM user and ACLs (password printed once)
    kafka agency remove --client dinkes   its ACLs and user deleted
    kafka agency list                     the agencies and their ACLs
    kafka services setup                  the four services' users and ACLs; each password from
                                          SIKADER_<SERVICE>_KAFKA_PASSWORD, else generated
    kafka certs --out DIR --host kafka    a CA and a broker certificate (PEM) for the secure broker"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sikader_shared import topics
from sikader_shared.kafka_access import AccessError, KafkaAccess, admin_config, agency_user
from sikader_shared.kafka_secure import write_certificates
from sikader_shared.settings import ServiceSettings


def add_kafka_parser(sub: Any) -> None:
    kafka = sub.add_parser(
        "kafka", help="broker access: agencies' and services' SCRAM users and ACLs (run as the broker's admin)"
    ).add_subparsers(dest="action", required=True)
    agency = kafka.add_parser("agency", help="an OPD agency's read-only access").add_subparsers(
        dest="agency_action", required=True
    )
    add = agency.add_parser("add", help="create (or reset) the agency's user and ACLs; prints its password once")
    add.add_argument("--client", required=True, help="OPD client id, e.g. dinkes")
    remove = agency.add_parser("remove", help="delete the agency's ACLs and user")
    remove.add_argument("--client", required=True)
    agency.add_parser("list", help="agencies and their ACLs (never passwords)")
    services = kafka.add_parser("services", help="the services' own principals").add_subparsers(
        dest="services_action", required=True
    )
    services.add_parser(
        "setup", help="users and ACLs of the four services (passwords from SIKADER_<SERVICE>_KAFKA_PASSWORD)"
    )
    certs = kafka.add_parser("certs", help="write a CA and a broker certificate (PEM) for the secure broker")
    certs.add_argument("--out", required=True, help="directory for ca.pem and broker.pem")
    certs.add_argument("--host", action="append", default=[], help="a name or IP clients use (repeatable)")


def _access(settings: ServiceSettings) -> KafkaAccess:
    protocol = settings.kafka_security_protocol.upper()
    if not protocol.startswith("SASL") or not settings.kafka_sasl_username or not settings.kafka_sasl_password:
        raise AccessError("set KAFKA_SECURITY_PROTOCOL=SASL_SSL and the admin's KAFKA_SASL_USERNAME/PASSWORD")
    return KafkaAccess(
        admin_config(
            settings.kafka_bootstrap_servers,
            settings.kafka_sasl_username,
            settings.kafka_sasl_password,
            settings.kafka_ssl_cafile,
            protocol,
        )
    )


def run_kafka_command(settings: ServiceSettings, args: argparse.Namespace) -> Any:
    if args.action == "certs":
        hosts = tuple(args.host) or ("localhost", "kafka", "127.0.0.1")
        ca, keystore = write_certificates(Path(args.out), hosts)
        return {"ca": str(ca), "broker_keystore": str(keystore), "hosts": list(hosts)}
    if getattr(args, "client", None) is not None:
        agency_user(args.client)  # bad input is refused before connecting
    access = _access(settings)
    if args.action == "agency":
        if args.agency_action == "add":
            return access.add_agency(args.client)
        if args.agency_action == "remove":
            return access.remove_agency(args.client)
        return access.list_agencies()
    passwords = {s: os.environ.get(f"SIKADER_{s.upper()}_KAFKA_PASSWORD", "") for s in topics.SERVICES}
    created = access.setup_services(passwords)
    # a password the operator gave is not echoed back
    return [{**c, "password": "(from the environment)"} if passwords[c["service"]] else c for c in created]


def main(argv: list[str] | None = None) -> int:
    """`python -m sikader_shared.kafka_access_cli agency add --client dinkes`: the same commands
    without a service's settings (the compose override's `kafka-access` job runs it)."""
    parser = argparse.ArgumentParser(prog="python -m sikader_shared.kafka_access_cli")
    add_kafka_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["kafka", *(sys.argv[1:] if argv is None else argv)])
    try:
        result = run_kafka_command(ServiceSettings(service_name="kafka-access"), args)
    except AccessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
