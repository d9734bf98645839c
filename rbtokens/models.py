"""The typed Structs for the resources rbtokens knows by name.

They live in :mod:`rbtokens.resources`; this module re-exports them for code
that imports ``rbtokens.models``.
"""

from .resources import APIToken, GenericItem, Product, Root, ServerInfo, Session, SiteInfo, User

__all__ = [
    "APIToken",
    "GenericItem",
    "Product",
    "Root",
    "ServerInfo",
    "Session",
    "SiteInfo",
    "User",
]
