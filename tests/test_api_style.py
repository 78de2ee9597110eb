"""One serializer style across the apps' APIs: each api package keeps its bodies and serializers in serializers.py."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework import serializers

from apps.markets.api.serializers import StarlistingSerializer, starlisting_body
from apps.markets.api.views import starlistings

API_PACKAGES = sorted(path.parent for path in Path(settings.BASE_DIR, "apps").glob("*/api/__init__.py"))


def test_every_app_api_has_serializers_views_and_urls():
    assert len(API_PACKAGES) >= 4
    for package in API_PACKAGES:
        assert {"serializers.py", "views.py", "urls.py"} <= {p.name for p in package.glob("*.py")}, package


@pytest.mark.parametrize("package", API_PACKAGES, ids=lambda path: path.parent.name)
def test_serializers_live_only_in_serializers_py(package):
    name = f"apps.{package.parent.name}.api"
    for module_info in pkgutil.iter_modules([str(package)]):
        if module_info.name == "serializers":
            continue
        module = importlib.import_module(f"{name}.{module_info.name}")
        declared_here = [
            member.__name__
            for member in vars(module).values()
            if inspect.isclass(member)
            and issubclass(member, serializers.BaseSerializer)
            and member.__module__ == module.__name__
        ]
        assert declared_here == [], f"{module.__name__} declares {declared_here}"


def test_a_starlisting_is_sent_as_it_is_documented(world):
    world.btc_1m.active = False
    world.btc_1m.save()
    rows = list(starlistings())
    assert rows
    for starlisting in rows:
        assert starlisting_body(starlisting) == dict(StarlistingSerializer(starlisting).data)
