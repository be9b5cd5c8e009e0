"""The loyalty domain: plain functions over a SQLAlchemy session. No Flask, no RQ, no
platform code may be imported here (a test enforces it)."""
