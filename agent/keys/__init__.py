"""API keys and workspaces as operators manage them: list, create, revoke (the HTTP routes and the CLI share it)."""
