"""What outside subscribers may subscribe to, and whether an event matches a subscription."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS

PUBLIC_TOPICS = frozenset({topics.POSYANDU, topics.CADRE, topics.CERTIFICATION, topics.INCENTIVES})

SUBSCRIBABLE: dict[str, str] = {
    ce_type: model.event_name for ce_type, model in sorted(EVENT_MODELS.items()) if model.topic in PUBLIC_TOPICS
}
"""ce_type -> event name of every event an outside system may receive (never the private topic)."""

_BY_NAME = {name: ce_type for ce_type, name in SUBSCRIBABLE.items()}


def normalise_event_type(value: str) -> str | None:
    """'CadreCertified' or 'sikader.certification.CadreCertified.v1' -> the ce_type, or None."""
    if value in SUBSCRIBABLE:
        return value
    return _BY_NAME.get(value)


def matches(
    event_types: Sequence[str],
    kecamatan_codes: Sequence[str],
    kelurahan_codes: Sequence[str],
    ce_type: str,
    kecamatan: str | None,
    kelurahan: str | None,
) -> bool:
    """Subscribed type, and inside the area filter if there is one (an event without an area,
    such as a whole period's approval, passes only subscriptions without an area filter)."""
    if ce_type not in event_types:
        return False
    if not kecamatan_codes and not kelurahan_codes:
        return True
    return (kecamatan is not None and kecamatan in kecamatan_codes) or (
        kelurahan is not None and kelurahan in kelurahan_codes
    )


def refused_destination(host: str, addresses: Iterable[str]) -> str | None:
    """Why a webhook may not go to `host` (an IP literal or a name, with the addresses it
    resolves to), or None. Subscribers are outside systems on the internet: a loopback,
    private, link-local or otherwise non-public address would let an OPD key make this service
    call into the city's own network (server-side request forgery). The reason never names
    the address a name resolved to."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is the service's own machine"
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone id
        except ValueError:
            return f"{host} does not resolve to an IP address"
        if not ip.is_global or ip.is_multicast:
            named = "is" if address == name else "resolves to"
            return f"{host} {named} a non-public address"
    return None


def literal_address(host: str) -> str | None:
    """The host as an IP address if it is one (IPv6 in brackets or not), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
