"""Per-client-address rate limits for the routes anyone can call (public certificate
verification, unsubscribe pages) and for failed authentication (a bad or revoked key).

In process and per replica (a token bucket per address and bucket: the limit a minute, refilled
continuously, so no window boundary lets a burst of twice the limit through): N replicas
allow N times the limit, which is the point at which a shared store (Redis) would be worth
its operation. Behind a reverse proxy the client address is taken from `X-Forwarded-For`, but
only when the connection comes from an address in the trusted-proxy setting (otherwise any
client could choose its own address). A trusted proxy may also be named by host name (for
example `console` in docker-compose, whose addresses the engine assigns): resolved when needed,
at most every 30 s. Over the limit: 429 with `Retry-After`."""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request

MAX_TRACKED = 50_000  # addresses remembered per bucket (oldest forgotten first)
HOST_TTL_S = 30.0  # how long a trusted proxy's resolved addresses are believed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split(spec: str) -> tuple[list[Network], list[str]]:
    """Networks (IPs or CIDRs) and host names of the trusted-proxy setting."""
    networks: list[Network] = []
    hosts: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.append(item)
    return networks, hosts


def _resolve(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return set()  # not resolvable now (the proxy is down): trusted again once it resolves


@dataclass
class RateLimiter:
    """A token bucket per (bucket, client address): `limit` tokens, refilled at limit/60 a second."""

    limits: dict[str, int]  # bucket -> requests per minute (0: no limit)
    trusted_proxies: str = ""
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, OrderedDict[str, tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._trusted, self._hosts = _split(self.trusted_proxies)
        self._host_addresses: set[str] = set()
        self._resolved_at = -math.inf

    def client_address(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        if not (self._trusted or self._hosts) or not self._is_trusted(peer):
            return peer
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
        # The right-most address not added by a trusted proxy is the client.
        for address in reversed(forwarded):
            if not self._is_trusted(address):
                return address
        return forwarded[0] if forwarded else peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if any(ip in net for net in self._trusted):
            return True
        return bool(self._hosts) and str(ip) in self._proxy_host_addresses()

    def _proxy_host_addresses(self) -> set[str]:
        # Blocking resolution, but rare (every HOST_TTL_S at most) and only on the rate-limited
        # paths (public routes, failed authentication).
        now = self.clock()
        if now - self._resolved_at >= HOST_TTL_S:
            self._host_addresses = set().union(*(_resolve(h) for h in self._hosts))
            self._resolved_at = now
        return self._host_addresses

    def _take(self, bucket: str, address: str, limit: int, consume: bool) -> float:
        """0 when a request may go (taking a token if `consume`), else the seconds to wait."""
        now = self.clock()
        rate = limit / 60.0
        buckets = self._buckets.setdefault(bucket, OrderedDict())
        tokens, at = buckets.get(address, (float(limit), now))
        tokens = min(float(limit), tokens + (now - at) * rate)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
        if consume and wait == 0.0:
            tokens -= 1.0
        buckets[address] = (tokens, now)
        buckets.move_to_end(address)
        while len(buckets) > MAX_TRACKED:
            buckets.popitem(last=False)
        return wait

    def check(self, request: Request, bucket: str, consume: bool = True) -> None:
        """Count this request; 429 with Retry-After when the address is over the bucket's limit."""
        limit = self.limits.get(bucket, 0)
        if limit <= 0:
            return
        wait = self._take(bucket, self.client_address(request), limit, consume)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise HTTPException(
                429,
                f"too many requests from this address ({bucket}: {limit} a minute); try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )

    def blocked(self, request: Request, bucket: str) -> None:
        """Refuse (429) an address that already used up the bucket, without counting."""
        self.check(request, bucket, consume=False)


def limiter_of(request: Request) -> RateLimiter | None:
    runtime: Any = getattr(request.app.state, "runtime", None)
    return getattr(runtime, "rate_limiter", None)


def public_route(request: Request) -> None:
    """FastAPI dependency for a route anyone may call: per-address limit ('public' bucket)."""
    limiter = limiter_of(request)
    if limiter is not None:
        limiter.check(request, "public")
