"""Load a `.weights.h5` file (written by `kspec import --weights` or `model.save_weights`) into a build."""

from __future__ import annotations

import os
from typing import Any

from kspec.errors import SpecError, first_line
from kspec.graph.resolve import Graph


def load_weights(
    model: Any, path: str | os.PathLike[str], graph: Graph, *, skip_mismatch: bool = False
) -> Any:
    """Weights saved from the Functional model of the same spec fit every API.

    Keras keys a weights file by the model's structure, so a Functional or Sequential build
    reads it directly; a subclass build (its layers live in `graph_layers`, block layers inside
    `BlockLayer`s) gets them layer by layer, by name, from a Functional twin that read the file. `skip_mismatch` (a new head on an
    imported base): layers whose weight shapes differ keep their initial weights (Keras's own
    `skip_mismatch`, which warns about each).
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise SpecError(f"a weights file's name ends in .weights.h5 (Keras's rule), got {path!r}")
    if not os.path.isfile(path):
        raise SpecError("no such weights file", file=path)
    from kspec.builders.subclass import SpecModel

    if isinstance(model, SpecModel):
        # Never straight into the subclass model: Keras keys the file by the Functional model's
        # structure and, for nested layers (blocks), skips what it cannot match with only a
        # warning. A Functional twin reads the file; its weights go over layer by layer, by name.
        from kspec.builders.blocks import layers_by_name
        from kspec.builders.functional import build_functional

        twin = build_functional(graph)
        try:
            twin.load_weights(path, skip_mismatch=skip_mismatch)
        except Exception as exc:
            raise SpecError(
                f"the weights do not fit this model: {' '.join(first_line(exc).split())[:300]}", file=path
            ) from None
        layers = layers_by_name(model)
        for layer in twin.layers:
            if layer.weights and layer.name in layers:
                layers[layer.name].set_weights(layer.get_weights())
        return model
    try:
        model.load_weights(path, skip_mismatch=skip_mismatch)
        return model
    except Exception as exc:  # Keras raises ValueError/KeyError/h5py errors on a mismatch
        raise SpecError(
            f"the weights do not fit this model: {' '.join(first_line(exc).split())[:300]}", file=path
        ) from None
