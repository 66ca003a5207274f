"""The API's own documentation: ``/docs`` (Swagger UI from the vendored ``swagger-ui-bundle``, no CDN) and an
OpenAPI schema with the bearer scheme on every operation that needs a key.

Which operations need a key is what ``api.guard.RequireBearer`` enforces: every ``/v1/`` path but
the signed webhooks, so the schema and the guard cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.errors import PROBLEM
from api.guard import SIGNED_PATHS
from api.openapi_text import DESCRIPTIONS, EXAMPLES

SCHEME = "bearer"
STATIC = "/docs/static"


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def needs_key(path: str) -> bool:
    return path.startswith("/v1/") and path not in SIGNED_PATHS


async def docs(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                               swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
                               swagger_css_url=f"{STATIC}/swagger-ui.css",
                               swagger_favicon_url=f"{STATIC}/favicon-32x32.png")


def install(app: FastAPI) -> None:
    app.mount(STATIC, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    # A module-level endpoint, not a closure over ``app``: FastAPI keeps every endpoint it has
    # classified in module-level caches (4,096 entries), so a closure kept a whole app alive,
    # hundreds of them in a test process (3.9 million objects for every full collection).
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
                "type": "http", "scheme": "bearer",
                "description": "An API key from `overture keys create` or POST /v1/keys: "
                               "`Authorization: Bearer ovk_...`"}
            for path, ops in schema["paths"].items():
                for method, op in ops.items():
                    if needs_key(path):
                        op["security"] = [{SCHEME: []}]
                    if not op.get("description") and (method, path) in DESCRIPTIONS:
                        op["description"] = DESCRIPTIONS[(method, path)]
                    if "requestBody" in op:  # api.limits answers any body over its route's cap
                        op["responses"].setdefault("413", _problem_response("Payload too large: the body is over "
                                                                            "the route's cap (code payload_too_large)"))
                    for media in op.get("requestBody", {}).get("content", {}).values():
                        if "example" not in media and "examples" not in media and (method, path) in EXAMPLES:
                            media["example"] = EXAMPLES[(method, path)]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
