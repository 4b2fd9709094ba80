"""The HTTP routes, one module per resource; ROUTERS in the order the OpenAPI shows them."""

from incentives.entrypoints.routes import changes, eligibility, payments, periods, policies, reviews

ROUTERS = [policies.router, eligibility.router, periods.router, reviews.router, changes.router, payments.router]
