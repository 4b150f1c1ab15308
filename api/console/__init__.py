"""The web console for support staff and auditors (server-rendered, no JavaScript)."""

from api.console.routes import router

__all__ = ["router"]
