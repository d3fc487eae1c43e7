"""Every key the installed Keras writes in a registry layer's `get_config()` is a spec argument.

`kspec import` turns `get_config()` into spec arguments; a Keras release that adds a config key
(3.14's `quantization_config`, `rms_scaling`) must fail here, not in a user's import. For each
registry entry, generated arguments build the real layer; its whole config, converted the way
the importer converts it, must validate against the entry and rebuild the identical layer, and
the short form (Keras defaults left out) must rebuild it too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kspec.layers import REGISTRY
from test_rules_vs_keras import STRATEGIES

pytestmark = pytest.mark.slow

# Operations have no get_config() of layer arguments, and a nested model's config is its
# layers' configs (both have their own import paths, tested in tests/test_import.py).
CANONICAL = sorted(
    {cls.keras_type for cls in REGISTRY.values()}
    - {"Sequential", "Functional"}
    - {n for n in REGISTRY if n.startswith("ops.")}
)


def rebuilt_config(keras: Any, layer_type: str, args: dict[str, Any]) -> dict[str, Any]:
    from kspec.builders.objects import make_layer

    config = make_layer(layer_type, args, "probe", seed=None).get_config()
    return {k: v for k, v in config.items() if k != "name"}


def without_names(config: dict[str, Any]) -> dict[str, Any]:
    """Nested layers (Bidirectional's) are named after the wrapper; names are not arguments."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "name"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(config)


@pytest.mark.parametrize("layer_type", CANONICAL)
def test_every_get_config_key_is_accepted(keras: Any, layer_type: str) -> None:
    from kspec.builders.objects import make_layer
    from kspec.importer.layer_config import full_args, layer_args

    entry = REGISTRY[layer_type]

    @settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=STRATEGIES[layer_type])
    def check(case: tuple) -> None:
        args, _, _ = case
        layer = make_layer(layer_type, args, "probe", seed=None)
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        every = full_args(layer)
        assert set(every) == set(config)
        entry.model_validate(every)  # every key, with its value as Keras wrote it
        assert without_names(rebuilt_config(keras, layer_type, every)) == without_names(config)
        short = layer_args(layer)
        entry.model_validate(short)
        assert without_names(rebuilt_config(keras, layer_type, short)) == without_names(config)

    check()


def test_the_short_form_leaves_out_keras_defaults(keras: Any) -> None:
    from kspec.importer.layer_config import layer_args

    assert layer_args(keras.layers.Dense(3)) == {"units": 3}
    assert layer_args(keras.layers.MaxPooling2D(3)) == {"pool_size": [3, 3]}  # strides follow pool_size
    assert layer_args(keras.layers.Conv2D(4, 3, kernel_initializer="he_normal")) == {
        "filters": 4,
        "kernel_size": [3, 3],
        "kernel_initializer": "HeNormal",
    }
    assert layer_args(keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1))) == {
        "units": 2,
        "kernel_regularizer": {"type": "L2", "l2": 0.1},
    }
