"""The HTTP routes, one module per resource; ROUTERS in the order the OpenAPI shows them."""

from incentives.entrypoints.routes import eligibility, payments, periods, policies, reviews

ROUTERS = [policies.router, eligibility.router, periods.router, reviews.router, payments.router]
