"""Durable state: SQLAlchemy Core schema shared by SQLite (default) and PostgreSQL."""
