"""Alembic's environment for the notes example: online only, one transaction per run
(PostgreSQL's DDL is transactional, so a failed expand leaves nothing half-applied).
The database comes from DATABASE_URL, a secret changeover passes from the env file."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
