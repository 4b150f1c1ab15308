"""The web console for support staff and auditors (server-rendered, no JavaScript).

`web` holds the router and what every page shares; each page family registers its pages on it.
"""

# Imported for their routes, in the order they are matched.
from api.console import corrections, events, explain, integrity, orgs, people, sign_in  # noqa: F401
from api.console.web import router

__all__ = ["router"]
