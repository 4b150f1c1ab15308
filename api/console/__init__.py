"""The web console for support staff and auditors (server-rendered, no JavaScript)."""

from api.console import corrections  # noqa: F401  (registers the preview page on the router)
from api.console.routes import router

__all__ = ["router"]
