"""The notifications HTTP API, one module per resource, in the order the OpenAPI shows them."""

from notifications.entrypoints.routes import broadcasts, consent, deliveries, rules, subscriptions

ROUTERS = [subscriptions.router, broadcasts.router, consent.router, deliveries.router, rules.router]
