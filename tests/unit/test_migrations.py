"""The Alembic migrations and the tables the code uses never drift apart, and every migration
downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from opsconsole.store.migrate import alembic_config, head_revision, upgrade
from opsconsole.store.tables import metadata


def _described_in_code(name, type_, parent_names) -> bool:
    """The SQLite full-text index of runs (migration 0008) is a virtual table with shadow tables of
    its own, and the runs per status (0010) a trigger-kept table: both SQLite-only, outside the
    tables in code (opsconsole/run_search.py and opsconsole/run_counts.py query them)."""
    return not (type_ == "table" and (name.startswith("runs_search") or name == "run_status_counts"))


def test_migrated_schema_equals_the_tables_in_code(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _described_in_code})
        assert compare_metadata(context, metadata) == []
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    engine.dispose()


def test_every_migration_downgrades_to_an_empty_store(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
