"""The store: SQLAlchemy 2 tables, engine setup, migrations, the group-commit writer, read queries."""
