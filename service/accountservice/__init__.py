"""Account service: accounts served over HTTP from an embedded SQLite store.

Kept free of imports so that ``python -m accountservice.healthcheck`` starts fast.
"""

__version__ = "1.0.0"
