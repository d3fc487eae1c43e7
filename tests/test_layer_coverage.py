"""Every public `keras.layers` class of the installed Keras has a registry rule or a reason why not."""

from __future__ import annotations

from typing import Any

from kspec.layers import REGISTRY
from kspec.layers.coverage import UNCHECKED


def keras_layer_classes(keras: Any) -> set[str]:
    return {
        name
        for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type)
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }


def test_every_keras_layer_is_covered_or_explained(keras: Any) -> None:
    missing = sorted(keras_layer_classes(keras) - set(REGISTRY) - set(UNCHECKED))
    assert not missing, f"keras.layers classes neither in the registry nor in layers/coverage.py: {missing}"


def test_the_unchecked_list_is_exact(keras: Any) -> None:
    """No stale entries (gone from Keras, or now with a rule), and every reason says something."""
    classes = keras_layer_classes(keras)
    assert not set(UNCHECKED) - classes, sorted(set(UNCHECKED) - classes)
    assert not set(UNCHECKED) & set(REGISTRY), sorted(set(UNCHECKED) & set(REGISTRY))
    assert all(len(reason.split()) >= 4 for reason in UNCHECKED.values())


def test_everything_keras_applications_uses_has_a_rule() -> None:
    """The layer classes of keras.applications' graphs (read from their source: Keras's own use)."""
    import pathlib
    import re

    import keras

    used: set[str] = set()
    for path in pathlib.Path(keras.__file__).parent.joinpath("src", "applications").glob("*.py"):
        if not path.name.endswith("_test.py"):
            used |= set(re.findall(r"\blayers\.([A-Z]\w+)\(", path.read_text()))
    assert used, "found no layer calls: the applications' source moved"
    assert not used - set(REGISTRY) - {"Input"}, sorted(used - set(REGISTRY) - {"Input"})
    assert {"LayerScale", "CustomScaleLayer", "StochasticDepth"} <= set(REGISTRY)
