from tests.fixtures.metadata import db

__all__ = ["db"]
