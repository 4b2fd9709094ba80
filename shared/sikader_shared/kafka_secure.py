"""The secure broker: a SASL/SCRAM-SHA-512 listener over TLS, with ACLs (StandardAuthorizer).

- Clients (services, agencies, the admin) use the `SASL_SSL` listener and authenticate with
  SCRAM-SHA-512. Their principal is `User:<name>`.
- The broker's own traffic (inter-broker `INTERNAL`, `CONTROLLER`) uses mutual TLS: the broker's
  certificate (CN=sikader-broker) is its principal, `User:CN=sikader-broker`. A client without a
  certificate signed by the cluster's CA cannot use these listeners.
- Certificates are PEM files (Kafka 4 reads them directly: no keystore tooling).
- In KRaft the first SCRAM credential (the admin's) is written when the storage is formatted
  (`StorageTool format --add-scram`); every other user is added by the admin, live
  (sikader_shared.kafka_access)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BROKER_CN = "sikader-broker"
BROKER_PRINCIPAL = f"User:CN={BROKER_CN}"
ADMIN_USER = "admin"
MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class BrokerSecurity:
    """What a secure broker needs: its PEM files and the admin's SCRAM password."""

    ca_file: Path  # the CA certificate (clients' and brokers' trust store)
    keystore_file: Path  # the broker's private key (PKCS#8) followed by its certificate
    admin_password: str
    admin_user: str = ADMIN_USER

    def scram_argument(self) -> str:
        """StorageTool's --add-scram value for the admin."""
        return f"{MECHANISM}=[name={self.admin_user},password={self.admin_password}]"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write_certificates(
    directory: Path, hosts: tuple[str, ...] = ("localhost", "kafka", "127.0.0.1")
) -> tuple[Path, Path]:
    """A CA and a broker certificate for `hosts` (names and IP addresses), valid 825 days, as
    PEM files: (ca.pem, broker.pem with key + certificate). The CA's key is not kept."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("sikader-kafka-ca"))
        .issuer_name(_name("sikader-kafka-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(BROKER_CN))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, keystore = directory / "ca.pem", directory / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore.write_bytes(pkcs8 + cert.public_bytes(serialization.Encoding.PEM))
    keystore.chmod(0o600)
    return ca_file, keystore


def secure_properties(port: int, internal_port: int, controller_port: int, security: BrokerSecurity) -> dict[str, str]:
    """The listener, TLS, SASL and authorizer properties of one node (loopback)."""
    return {
        "listeners": (
            f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "INTERNAL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(security.keystore_file),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(security.ca_file),
        "listener.name.internal.ssl.client.auth": "required",
        "listener.name.controller.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": MECHANISM,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": SCRAM_JAAS,
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{security.admin_user};{BROKER_PRINCIPAL}",
        "allow.everyone.if.no.acl.found": "false",
    }
