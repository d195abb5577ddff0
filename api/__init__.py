"""The HTTP API a healthsilk member institution runs (see api/README.md); `create_app` is in api.app."""
