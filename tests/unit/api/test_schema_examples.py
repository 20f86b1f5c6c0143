"""Every example the OpenAPI schema shows is a valid instance of its model.

schemathesis sends request examples (its examples phase); response examples are only
read by people and generated clients, so this keeps them honest.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from pydantic import BaseModel

import bookmarkai_ml.api.schemas
import bookmarkai_ml.contracts
from bookmarkai_ml.api.schemas.examples import examples_of


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for package in (bookmarkai_ml.api.schemas, bookmarkai_ml.contracts):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseModel)
                    and value.__module__ == module.__name__
                    and examples_of(value)
                ):
                    found[f"{value.__module__}.{value.__name__}"] = value
    return [found[name] for name in sorted(found)]


MODELS = _models()


def test_the_schemas_declare_examples() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"JobPublic", "WebhookList", "DeliveryLog", "BudgetLimitsPublic"} <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_example_validates(model: type[BaseModel]) -> None:
    for example in examples_of(model):
        data: Any = example
        model.model_validate(data)
