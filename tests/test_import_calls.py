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


def keyword_tensors_model(keras: Any) -> Any:
    """A seq2seq encoder/decoder (the encoder's states start the decoder), an explicit mask
    tensor, an Embedding's implicit mask (`mask_zero`: Keras records `ops.not_equal` and passes
    the mask by keyword), Bidirectional and ConvLSTM with initial states, attention masks."""
    from keras import layers

    src = keras.Input((6, 3), name="src")
    tgt = keras.Input((4, 3), name="tgt")
    keep = keras.Input((6,), dtype="bool", name="keep")
    tgt_keep = keras.Input((4,), dtype="bool", name="tgt_keep")
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    _, h, c = layers.LSTM(4, return_state=True, name="encoder")(src, mask=keep)
    decoded = layers.LSTM(4, return_sequences=True, name="decoder")(tgt, initial_state=[h, c])
    embedded = layers.Embedding(10, 4, mask_zero=True, name="emb")(tokens)
    gru = layers.GRU(4, name="gru")(embedded)
    h2, c2 = layers.Dense(2, name="h2")(h), layers.Dense(2, name="c2")(c)
    bi = layers.Bidirectional(layers.GRU(2), name="bi")(src, initial_state=[h2, c2])
    frames = keras.Input((2, 5, 5, 1), name="frames")
    f0 = keras.Input((3, 3, 2), name="f0")
    clstm = layers.ConvLSTM2D(2, 3, name="clstm")(frames, initial_state=[f0, f0])
    pairs = keras.Input((4, 6), dtype="bool", name="pairs")
    attended = layers.MultiHeadAttention(2, 2, name="mha")(decoded, src, attention_mask=pairs)
    dot = layers.Attention(name="att")([decoded, decoded], mask=[tgt_keep, tgt_keep])
    head = layers.Concatenate(name="cat")(
        [
            layers.Flatten(name="flat_att")(attended),
            layers.Flatten(name="flat_dot")(dot),
            gru,
            bi,
            layers.Flatten(name="flat_c")(clstm),
        ]
    )
    inputs = [src, tgt, keep, tgt_keep, tokens, frames, f0, pairs]
    return keras.Model(inputs, head, name="keywords")


def test_keyword_tensors_import_with_no_loss(keras: Any, tmp_path: Any) -> None:
    model = keyword_tensors_model(keras)
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    entries = {e.get("name", e["type"]): e for e in spec["layers"]}
    assert entries["encoder"]["inputs"] == {"sequences": "src", "mask": "keep"}
    assert entries["decoder"]["inputs"] == {"sequences": "tgt", "initial_state": ["encoder:1", "encoder:2"]}
    assert entries["ops.not_equal"] == {"type": "ops.not_equal", "inputs": "tokens", "x2": 0}
    assert entries["GRU"]["inputs"] == {"sequences": "emb", "mask": "not_equal"}
    assert entries["bi"]["inputs"] == {"sequences": "src", "initial_state": ["h2", "c2"]}
    assert entries["clstm"]["inputs"] == {"sequences": "frames", "initial_state": ["f0", "f0"]}
    assert entries["mha"]["inputs"] == {"query": "decoder", "value": "src", "attention_mask": "pairs"}
    assert entries["att"]["inputs"] == {
        "query": "decoder",
        "value": "decoder",
        "mask": ["tgt_keep", "tgt_keep"],
    }
    with pytest.raises(kspec.SpecError, match="the Sequential API cannot build this graph"):
        kspec.build(kspec.from_dict({**spec, "api": "sequential"}))


SEQ2SEQ = """
inputs: [{name: src, shape: [6, 3]}, {name: tgt, shape: [4, 3]}, {name: keep, shape: [6], dtype: bool}]
layers:
  - {type: LSTM, name: encoder, inputs: {sequences: src, mask: keep}, units: 4, return_state: true}
  - {type: LSTM, name: decoder, inputs: {sequences: tgt, initial_state: [encoder:1, encoder:2]}, units: 4}
"""


def test_inputs_by_name_check_without_keras() -> None:
    rows = {r["name"]: r for r in kspec.check(kspec.loads(SEQ2SEQ)).to_dict()["layers"]}
    assert rows["decoder"]["output_shape"] == [None, 4] and rows["decoder"]["params"] == 4 * 4 * (3 + 4 + 1)
    assert rows["decoder"]["inputs"] == ["tgt", "encoder:1", "encoder:2"]
    assert rows["decoder"]["keyword_inputs"] == {"initial_state": ["encoder:1", "encoder:2"]}
    assert rows["encoder"]["keyword_inputs"] == {"mask": "keep"}


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "mask: keep}",
            "mask: keep, masks: keep}",
            "layers[0].inputs.masks: LSTM has no tensor argument 'masks'",
        ),
        (
            "[encoder:1, encoder:2]",
            "[encoder:1]",
            "initial_state takes 2 tensor(s) (the layer's states), got 1",
        ),
        (
            "[encoder:1, encoder:2]",
            "[encoder:1, src]",
            "initial_state[1] needs shape (None, 4), got (None, 6, 3)",
        ),
        ("mask: keep}", "mask: tgt}", "mask needs shape (None, 6), got (None, 4, 3)"),
        (
            "[encoder:1, encoder:2]",
            "[encoder:1, nothing]",
            "layers[1].inputs.initial_state[1]: unknown input",
        ),
        ("{sequences: src, mask: keep}", "{mask: keep}", "LSTM needs its positional tensors sequences"),
        (
            "units: 4}",
            "units: 4}\n  - {type: Dense, inputs: {x: decoder}, units: 2}",
            "Dense takes its inputs as a name",
        ),
    ],
)
def test_bad_inputs_by_name_is_one_located_error(old: str, new: str, message: str) -> None:
    assert old in SEQ2SEQ
    with pytest.raises(kspec.SpecError) as err:
        kspec.check(kspec.loads(SEQ2SEQ.replace(old, new, 1), file="s.yaml"))
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_inputs_by_name_refused_in_blocks_and_checked_on_reuse_entries() -> None:
    with pytest.raises(kspec.SpecError, match="not supported in a spec with blocks yet"):
        kspec.loads(
            "blocks: {b: {layers: [{type: Dense, units: 2}]}}\n" + SEQ2SEQ + "  - {block: b}\n", file="s.yaml"
        )
    with pytest.raises(kspec.SpecError, match=r"layers\[2\]\.inputs\.masks: LSTM has no tensor argument"):
        kspec.check(kspec.loads(SEQ2SEQ + "  - {reuse: encoder, inputs: {sequences: tgt, masks: keep}}\n"))


def test_import_refuses_what_it_cannot_write_in_one_line(keras: Any, tmp_path: Any, capsys: Any) -> None:
    from keras import layers

    from kspec.cli import main

    x, m = keras.Input((5, 3), name="x"), keras.Input((5,), dtype="bool", name="m")
    pooled = layers.Attention(name="att")([x, x], mask=[None, m])  # half a mask list
    path = tmp_path / "m.keras"
    keras.Model([x, m], pooled).save(path)
    out = tmp_path / "m.yaml"
    assert main(["import", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'att' is called with a mask= kspec cannot write" in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def nested_model(keras: Any) -> Any:
    """A nested Functional model holding what a top-level one can: a shared layer, a call
    argument, tensors by keyword, a layer with several outputs (one of them a model output),
    and models nested deeper (a Sequential and a Functional inside it)."""
    from keras import layers

    a, b = keras.Input((5, 3), name="a_in"), keras.Input((5, 3), name="b_in")
    proj = layers.Dense(3, name="proj")
    left, right = proj(a), proj(b)  # shared
    _, h, c = layers.LSTM(4, return_state=True, name="enc_lstm")(left)
    dec = layers.LSTM(4, return_sequences=True, name="dec_lstm")
    seq = dec(right, initial_state=[h, c])
    again = dec(left, initial_state=[c, h])  # shared, with other states
    dropped = layers.Dropout(0.5, name="drop")(layers.Add(name="both")([seq, again]), training=False)
    x_in = keras.Input((4,), name="deep_in")
    deep = keras.Model(x_in, layers.Dense(2, name="deep_dense")(x_in), name="deep")
    stack = keras.Sequential(
        [layers.Dense(4, name="stack_dense"), layers.ReLU(name="stack_relu")], name="stack"
    )
    inner = keras.Model([a, b], [deep(stack(h)), dropped, c], name="encoder")
    x, y = keras.Input((5, 3), name="x"), keras.Input((5, 3), name="y")
    code, sequence, state = inner([x, y])
    head = layers.Concatenate(name="cat")([code, layers.Flatten(name="flat")(sequence), state])
    return keras.Model([x, y], layers.Dense(2, name="head")(head), name="outer")


def test_nested_functional_holds_everything_a_model_can(keras: Any, tmp_path: Any) -> None:
    spec = assert_no_loss(nested_model(keras), tmp_path, apis=("functional", "subclass"))
    encoder = spec["layers"][0]
    assert encoder["type"] == "Functional" and encoder["outputs"] == ["deep", "drop", "enc_lstm:2"]
    inner = {e["name"]: e for e in encoder["layers"]}
    assert inner["proj_call2"] == {"reuse": "proj", "name": "proj_call2", "inputs": "b_in"}
    assert inner["dec_lstm"]["inputs"] == {
        "sequences": "proj_call2",
        "initial_state": ["enc_lstm:1", "enc_lstm:2"],
    }
    assert inner["dec_lstm_call2"]["inputs"] == {
        "sequences": "proj",
        "initial_state": ["enc_lstm:2", "enc_lstm:1"],
    }
    assert inner["drop"]["call"] == {"training": False}
    assert inner["stack"]["type"] == "Sequential" and inner["deep"]["type"] == "Functional"
    report = kspec.check(kspec.from_dict(spec))
    assert report.graph.nodes[0].output_shapes == [(None, 2), (None, 5, 4), (None, 4)]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("{reuse: proj, ", "{reuse: nope, ", "layers[0].layers[1].reuse: 'nope' is not an earlier layer"),
        ("[enc:1, enc:2]", "[enc:1]", "initial_state takes 2 tensor(s)"),
        (
            "units: 3}",
            "units: 3, call: {train: false}}",
            "layers[0].layers[0].call.train: unknown call argument",
        ),
        ("outputs: [dec, enc:2]", "outputs: [dec, enc:3]", "output 'enc:3' is not an inner layer"),
        ("proj, inputs: a,", "proj, inputs: {x: a},", "Dense takes its inputs as a name"),
    ],
)
def test_bad_nested_functional_is_one_error(old: str, new: str, message: str) -> None:
    text = """
inputs: [{name: x, shape: [5, 3]}, {name: y, shape: [5, 3]}]
layers:
  - type: Functional
    name: encoder
    inputs: [x, y]
    model_inputs: [{name: a, shape: [5, 3]}, {name: b, shape: [5, 3]}]
    layers:
      - {type: Dense, name: proj, inputs: a, units: 3}
      - {reuse: proj, name: proj2, inputs: b}
      - {type: LSTM, name: enc, inputs: proj, units: 4, return_state: true}
      - {type: LSTM, name: dec, inputs: {sequences: proj2, initial_state: [enc:1, enc:2]}, units: 4}
    outputs: [dec, enc:2]
  - {type: Concatenate, inputs: [encoder, encoder:1]}
"""
    kspec.check(kspec.loads(text))  # the spec as written is fine
    assert old in text
    with pytest.raises(kspec.SpecError) as err:
        kspec.check(kspec.loads(text.replace(old, new, 1), file="s.yaml"))
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_sequential_model_holding_a_nested_functional_with_these_calls(keras: Any, tmp_path: Any) -> None:
    """The Sequential style can hold these calls only inside a nested model: a Functional
    encoder whose LSTM starts from another's states, with a shared layer, as one Sequential layer."""
    from keras import layers

    seq_in = keras.Input((5, 3), name="seq_in")
    norm = layers.Dense(3, name="norm")
    _, h, c = layers.LSTM(4, return_state=True, name="first")(norm(seq_in))
    last = layers.LSTM(4, name="second")(norm(norm(seq_in)), initial_state=[h, c])
    encoder = keras.Model(seq_in, last, name="encoder")
    model = keras.Sequential([keras.Input((5, 3)), encoder, layers.Dense(2, name="head")], name="seq")
    spec = assert_no_loss(model, tmp_path, apis=("sequential", "functional", "subclass"))
    assert spec["api"] == "sequential" and spec["layers"][0]["type"] == "Functional"
    inner = {e["name"]: e for e in spec["layers"][0]["layers"]}
    assert inner["second"]["inputs"] == {"sequences": "norm_call3", "initial_state": ["first:1", "first:2"]}


def test_a_mask_changes_no_count() -> None:
    """MACs and parameters of attention called with a mask are those of the call without it."""
    base = {
        "inputs": [
            {"name": "q", "shape": [4, 8]},
            {"name": "v", "shape": [6, 8]},
            {"name": "m", "shape": [4, 6]},
        ],
        "layers": [{"type": "MultiHeadAttention", "name": "mha", "num_heads": 2, "key_dim": 3}],
    }
    plain = {**base, "inputs": base["inputs"][:2], "layers": [{**base["layers"][0], "inputs": ["q", "v"]}]}
    masked = {
        **base,
        "layers": [{**base["layers"][0], "inputs": {"query": "q", "value": "v", "attention_mask": "m"}}],
    }
    a, b = (kspec.check(kspec.from_dict(s)).to_dict() for s in (plain, masked))
    assert (a["total_params"], a["total_macs"]) == (b["total_params"], b["total_macs"]) and a["total_macs"]


def masked_text_model(keras: Any) -> Any:
    """The common text classifier: an Embedding with `mask_zero` whose mask Keras passes on by
    keyword to TimeDistributed and GlobalAveragePooling1D; a Softmax with an explicit mask; the
    attention scores of Attention and GroupQueryAttention as outputs."""
    from keras import layers

    tokens = keras.Input((6,), dtype="int32", name="tokens")
    embedded = layers.Embedding(12, 4, mask_zero=True, name="emb")(tokens)
    normed = layers.BatchNormalization(name="bn")(embedded)
    per_step = layers.TimeDistributed(layers.Dense(3), name="per_step")(normed)
    pooled = layers.GlobalAveragePooling1D(name="pool")(per_step)
    logits = keras.Input((5,), name="logits")
    allowed = keras.Input((5,), dtype="bool", name="allowed")
    probs = layers.Softmax(name="probs")(logits, mask=allowed)
    seq = keras.Input((4, 6), name="seq")
    dot, dot_scores = layers.Attention(name="att")([seq, seq], return_attention_scores=True)
    gqa, gqa_scores = layers.GroupQueryAttention(2, 4, 2, name="gqa")(seq, seq, return_attention_scores=True)
    flat = [layers.Flatten(name=f"flat_{k}")(t) for k, t in enumerate([dot, dot_scores, gqa, gqa_scores])]
    head = layers.Concatenate(name="cat")([pooled, probs, *flat])
    return keras.Model([tokens, logits, allowed, seq], head, name="masked_text")


def test_masks_from_an_embedding_and_attention_scores_import_with_no_loss(keras: Any, tmp_path: Any) -> None:
    spec = assert_no_loss(masked_text_model(keras), tmp_path, apis=("functional", "subclass"))
    entries = {e.get("name", e["type"]): e for e in spec["layers"]}
    assert entries["bn"]["inputs"] == {"inputs": "emb", "mask": "not_equal"}
    assert entries["per_step"]["inputs"] == {"inputs": "bn", "mask": "not_equal"}
    assert entries["pool"]["inputs"] == {"inputs": "per_step", "mask": "not_equal"}
    assert entries["probs"]["inputs"] == {"inputs": "logits", "mask": "allowed"}
    assert entries["att"]["call"] == entries["gqa"]["call"] == {"return_attention_scores": True}
    rows = {r["name"]: r for r in kspec.check(kspec.from_dict(spec)).to_dict()["layers"]}
    assert rows["att"]["output_shapes"] == [[None, 4, 6], [None, 4, 4]]
    assert rows["gqa"]["output_shapes"] == [[None, 4, 6], [None, 4, 4, 4]]  # 4 query heads


def test_a_shared_layer_called_again_with_tensors_by_keyword(keras: Any, tmp_path: Any) -> None:
    """One decoder LSTM (one set of weights) started from two encoders' states."""
    from keras import layers

    a, b, t = keras.Input((5, 3), name="a"), keras.Input((5, 3), name="b"), keras.Input((4, 2), name="t")
    _, ha, ca = layers.LSTM(4, return_state=True, name="enc_a")(a)
    _, hb, cb = layers.LSTM(4, return_state=True, name="enc_b")(b)
    decoder = layers.LSTM(4, name="decoder")
    out = layers.Subtract(name="diff")(
        [decoder(t, initial_state=[ha, ca]), decoder(t, initial_state=[hb, cb])]
    )
    spec = assert_no_loss(keras.Model([a, b, t], out), tmp_path, apis=("functional", "subclass"))
    entries = {e["name"]: e for e in spec["layers"] if "name" in e}
    assert entries["decoder_call2"] == {
        "reuse": "decoder",
        "name": "decoder_call2",
        "inputs": {"sequences": "t", "initial_state": ["enc_b:1", "enc_b:2"]},
    }
    rows = {r["name"]: r for r in kspec.check(kspec.from_dict(spec)).to_dict()["layers"]}
    assert rows["decoder_call2"]["params"] == 0 and rows["decoder"]["params"] == 4 * 4 * (2 + 4 + 1)


def test_sequential_models_nested_in_sequential_models(keras: Any, tmp_path: Any) -> None:
    """A Sequential inside a Sequential inside a model (top-level Sequential or Functional) is
    kept nested level by level, with no loss; nesting is bounded."""
    from keras import layers

    deep = keras.Sequential([layers.Dense(4, name="p"), layers.Dense(2, name="q")], name="deep")
    middle = keras.Sequential([keras.Input((5,)), layers.Dense(5, name="m"), deep], name="middle")
    stacked = keras.Sequential([keras.Input((5,)), middle, layers.Dense(3, name="head")], name="stacked")
    (tmp_path / "s").mkdir()
    (tmp_path / "f").mkdir()
    spec = assert_no_loss(stacked, tmp_path / "s", apis=("sequential", "functional", "subclass"))
    assert spec["layers"][0]["layers"][1]["type"] == "Sequential"
    assert [e["name"] for e in spec["layers"][0]["layers"][1]["layers"]] == ["p", "q"]
    x = keras.Input((5,), name="x")
    functional = keras.Model(x, middle(layers.Dense(5, name="d0")(x)), name="functional_outer")
    assert_no_loss(functional, tmp_path / "f", apis=("functional", "subclass"))

    def nest(levels: int) -> str:
        entry = "{type: Dense, units: 2}"
        for _ in range(levels):
            entry = "{type: Sequential, layers: [" + entry + "]}"
        return entry

    text = "name: n\ninputs: [{name: x, shape: [3]}]\nlayers:\n  - " + nest(8) + "\n"
    assert kspec.check(kspec.loads(text)).total_params == 8
    with pytest.raises(kspec.SpecError, match="nest more than 8 deep"):
        kspec.check(kspec.loads(text.replace(nest(8), nest(9))))
