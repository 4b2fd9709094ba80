"""audit trail per Posyandu: index the Posyandu named in cadre audit snapshots

Every cadre write records the cadre's state before and after, Posyandu included, so the
audit trail of a Posyandu is its own rows plus the cadre rows whose `before` or `after`
names it (GET /audit/posyandu/{id}). Two partial expression indexes (cadre rows only) keep
that query an index lookup; the audit table itself is unchanged.

Revision ID: registry_0003
Revises: registry_0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None


SIDES = ("before", "after")


def _expression(side: str, dialect: str) -> str:
    # Written as registry.adapters.repository.snapshot_posyandu writes it: the database uses an
    # expression index only for the same expression (tests/security checks the plan).
    if dialect == "postgresql":
        return f"(\"{side}\" ->> 'posyandu_id')"
    return f"json_extract(\"{side}\", '$.posyandu_id')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for side in SIDES:
        op.execute(
            f"CREATE INDEX ix_audit_cadre_{side}_posyandu ON audit_log ({_expression(side, dialect)}) "
            "WHERE entity_type = 'cadre'"
        )


def downgrade() -> None:
    for side in SIDES:
        op.execute(f"DROP INDEX IF EXISTS ix_audit_cadre_{side}_posyandu")
