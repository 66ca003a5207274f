"""Every POST of the JSON API stores its idempotency answer in its own transaction."""

import importlib
import pkgutil

from fastapi import APIRouter
from fastapi.routing import APIRoute

import api.routes
from api.idempotency import AnsweringRoute


def test_every_documented_post_route_answers_inside_its_transaction():
    plain = []
    for info in pkgutil.iter_modules(api.routes.__path__):
        module = importlib.import_module(f"api.routes.{info.name}")
        for router in (v for v in vars(module).values() if isinstance(v, APIRouter)):
            for route in router.routes:
                if isinstance(route, APIRoute) and "POST" in route.methods and route.include_in_schema:
                    if not isinstance(route, AnsweringRoute):
                        plain.append(f"{info.name}: POST {route.path}")
    assert not plain, "POST routes outside AnsweringRoute (a lost answer would let a repeat redo them): " + \
        ", ".join(plain)
