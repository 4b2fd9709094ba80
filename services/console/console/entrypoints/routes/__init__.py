"""The console's routers, in the order the OpenAPI shows them."""

from fastapi import APIRouter

from console.entrypoints.routes import auth, insentif, kader, peta, platform, sertifikasi, siaran, verifikasi

ROUTERS: list[APIRouter] = [
    auth.router,
    peta.router,
    verifikasi.router,
    kader.router,
    insentif.router,
    siaran.router,
    sertifikasi.router,
    platform.router,
]
