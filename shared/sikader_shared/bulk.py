"""Many rows in one statement, inside the caller's transaction. Small batches: one `unnest`
INSERT per table on PostgreSQL, an executemany on SQLite. Large batches (`copy_rows`): COPY on
PostgreSQL, the driver's executemany with values converted as SQLAlchemy would on SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date
from functools import cache
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import JSON, Boolean, Date, DateTime, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


async def driver_connection(session: AsyncSession) -> Any | None:
    """The asyncpg connection under a PostgreSQL session, inside the session's transaction,
    for the statements run per batch: through SQLAlchemy a statement costs many times more
    CPU before the driver sees it than the driver's own work. None on other databases."""
    sync = session.sync_session
    cached = sync.info.get("sikader.driver")
    transaction = sync.get_transaction()
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]  # the same transaction, hence the same connection
    if session.get_bind().dialect.name != "postgresql":
        return None
    raw = await (await session.connection()).get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy's adapter sends BEGIN with its first statement: let it, or what we run
        # here would commit on its own.
        await session.execute(text("SELECT 1"))
    sync.info["sikader.driver"] = (sync.get_transaction(), driver)
    return driver


@cache
def pg_array_type(table: Table, column: str) -> tuple[str, bool]:
    """The PostgreSQL array type a column's values travel in, and whether it is JSON (sent
    as text, cast back in the statement)."""
    col_type = table.c[column].type
    if isinstance(col_type, JSON):
        return "TEXT[]", True
    return f"{col_type.compile(dialect=_PG)}[]", False


@cache
def _pg_statement(
    table: Table, columns: tuple[str, ...], on_conflict: str | None, keys: tuple[str, ...], returning: str | None
) -> str:
    q = _PG.identifier_preparer.quote
    names = [q(c) for c in columns]
    types = [pg_array_type(table, c) for c in columns]
    arrays = ", ".join(f"CAST(${i} AS {t})" for i, (t, _) in enumerate(types, start=1))
    picked = ", ".join(
        f"CAST(u.{n} AS JSON)" if is_json else f"u.{n}" for n, (_, is_json) in zip(names, types, strict=True)
    )
    listed = ", ".join(names)
    sql = f"INSERT INTO {q(table.name)} ({listed}) SELECT {picked} FROM unnest({arrays}) AS u({listed})"
    if on_conflict == "nothing":
        sql += " ON CONFLICT DO NOTHING"
    elif on_conflict == "update":
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for c, n in zip(columns, names, strict=True) if c not in keys)
        sql += f" ON CONFLICT ({', '.join(q(k) for k in keys)}) DO " + (
            f"UPDATE SET {updates}" if updates else "NOTHING"
        )
    if returning:
        sql += f" RETURNING {q(returning)}"
    return sql


async def bulk_insert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    on_conflict: Literal["nothing", "update"] | None = None,
    keys: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert many rows (all with the same keys) in one statement per table: on PostgreSQL
    one array per column through `unnest` (one round trip, one parameter per column, much
    cheaper per row than executemany); on SQLite an executemany. `on_conflict="update"`
    upserts on `keys` (rows must be unique on them); `returning` names one column whose
    values come back for the rows actually inserted."""
    if not rows:
        return []
    columns = {c: [r[c] for r in rows] for c in rows[0]}
    return await bulk_insert_columns(session, table, columns, on_conflict=on_conflict, keys=keys, returning=returning)


async def bulk_insert_columns(
    session: AsyncSession,
    table: Table,
    columns: dict[str, list[Any]],
    *,
    on_conflict: Literal["nothing", "update"] | None = None,
    keys: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """`bulk_insert` of rows given column by column (lists of equal length): no dict per row."""
    names = tuple(columns)
    if not names or not columns[names[0]]:
        return []
    driver = await driver_connection(session)
    if driver is not None:
        arrays = [
            [None if v is None else json.dumps(v) for v in values] if pg_array_type(table, c)[1] else values
            for c, values in columns.items()
        ]
        sql = _pg_statement(table, names, on_conflict, tuple(keys), returning)
        if returning:
            return [r[0] for r in await driver.fetch(sql, *arrays)]
        await driver.execute(sql, *arrays)
        return []
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    # SQLite: executemany (its C loop is cheap); RETURNING through SQLAlchemy's insertmanyvalues.
    stmt: Any = insert(table)
    if on_conflict is not None:
        stmt = sqlite.insert(table)
        if on_conflict == "nothing":
            stmt = stmt.on_conflict_do_nothing()
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in names if c not in keys}
            )
    if returning:
        stmt = stmt.returning(table.c[returning])
        return list((await session.execute(stmt, rows)).scalars())
    await session.execute(stmt, rows)
    return []


# --------------------------------------------------------------------------- COPY path

SQLITE_CHUNK = 5000
Converter = Callable[[Any], Any] | None  # None: the driver takes the value as it is


def _sqlite_converter(kind: Any) -> Converter:
    """What SQLAlchemy itself would store in SQLite for this column type."""
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(kind, DateTime):
        last: list[Any] = [None, None]  # a batch repeats one timestamp: convert it once

        def timestamp(v: Any) -> Any:
            if v is None:
                return None
            if v is not last[0]:
                last[:] = [v, v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")]
            return last[1]

        return timestamp
    if isinstance(kind, Date):
        return lambda v: v.isoformat() if isinstance(v, date) else v
    if isinstance(kind, Boolean):
        return lambda v: None if v is None else int(bool(v))
    return None


def _pg_converter(kind: Any) -> Converter:
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v)  # asyncpg takes json as text
    return None


def _tuples(
    table: Table, columns: list[str], rows: Sequence[dict[str, Any]], make: Callable[[Any], Converter]
) -> list[Any]:
    """The rows as value tuples in `columns` order, converted where the column needs it
    (itemgetter picks the values in C: an import of 100,000 cadres is ~5 million values)."""
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    converters = [(i, f) for i, c in enumerate(columns) if (f := make(table.c[c].type)) is not None]
    if not converters:
        return [pick(row) for row in rows]
    out = []
    for row in rows:
        values = list(pick(row))
        for i, f in converters:
            values[i] = f(values[i])
        out.append(tuple(values))
    return out


async def copy_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows (dicts with the same keys) with COPY on PostgreSQL; on SQLite with the
    driver's executemany, skipping SQLAlchemy's per-row processing."""
    if not rows:
        return
    columns = list(rows[0])
    driver = await driver_connection(session)
    if driver is not None:
        records = _tuples(table, columns, rows, _pg_converter)
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
        return
    connection = await session.connection()
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    for start in range(0, len(rows), SQLITE_CHUNK):
        chunk = _tuples(table, columns, rows[start : start + SQLITE_CHUNK], _sqlite_converter)
        await connection.exec_driver_sql(sql, chunk)
