"""Storage: one layer over two engines (SQLite embedded, PostgreSQL in production).

Domain repositories use the tables of ``schema`` through a :class:`~beffroi.store.engine.Store`;
nothing outside this package knows which engine is underneath.
"""

from beffroi.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
