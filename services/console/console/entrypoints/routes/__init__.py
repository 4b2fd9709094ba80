"""The console's routers, in the order the OpenAPI shows them."""

from fastapi import APIRouter

from console.entrypoints.routes import auth, peta, platform

ROUTERS: list[APIRouter] = [auth.router, peta.router, platform.router]
