"""The starting points `kspec init` writes: commented specs that check, build and train as written.

Each trains offline on data that ships with scikit-learn (tests/test_init.py checks, builds with
every available API and trains each for one epoch).
"""

from __future__ import annotations

_HEADER = """\
# A kspec spec: a Keras model as data. Every key is Keras's own name.
#   kspec check {file}          shapes and parameter counts, no TensorFlow
#   kspec build {file}          Keras's model.summary() (--api sequential|functional|subclass)
#   kspec train {file} -o runs/{name}
# The format, key by key: docs/spec.md
kspec: 1
"""

_COMPILE_TRAIN = """\
compile:
  optimizer: {{type: Adam, learning_rate: 0.001}}   # or a name: adam, sgd, rmsprop...
  loss: sparse_categorical_crossentropy          # integer class labels as they are
  metrics: [accuracy]
train:
  data: {{type: sklearn, name: {dataset}}}          # bundled with scikit-learn: works offline
  test_split: 0.2                                # held out, evaluated once after training
  validation_split: 0.1
  epochs: {epochs}
  batch_size: 32
  callbacks:
    - {{type: EarlyStopping, monitor: val_loss, patience: 5, restore_best_weights: true}}
"""

TEMPLATES: dict[str, tuple[str, str]] = {
    "mlp": (
        "a multilayer perceptron on the iris flowers (4 measurements, 3 species)",
        """\
name: {name}
api: sequential               # sequential | functional | subclass (kspec build --api overrides it)
seed: 7                       # same seed => same initial weights in all three APIs
inputs:
  - {{name: features, shape: [4]}}
layers:                       # each layer reads the one above it
  - {{type: Dense, name: hidden1, units: 32, activation: relu}}
  - {{type: Dropout, name: drop, rate: 0.1}}
  - {{type: Dense, name: hidden2, units: 16, activation: relu}}
  - {{type: Dense, name: species, units: 3, activation: softmax}}   # one unit per class
"""
        + _COMPILE_TRAIN.replace("{dataset}", "iris").replace("{epochs}", "50"),
    ),
    "cnn": (
        "a small convolutional network on the 8x8 digits images",
        """\
name: {name}
api: functional
seed: 7
inputs:
  - {{name: image, shape: [8, 8, 1]}}   # the 64 pixels of each row are reshaped to 8x8x1
layers:
  - {{type: Conv2D, name: conv1, filters: 16, kernel_size: 3, padding: same, activation: relu}}
  - {{type: MaxPooling2D, name: pool, pool_size: 2}}
  - {{type: Conv2D, name: conv2, filters: 32, kernel_size: 3, padding: same, activation: relu}}
  - {{type: GlobalAveragePooling2D, name: gap}}
  - {{type: Dense, name: digit, units: 10, activation: softmax}}
"""
        + _COMPILE_TRAIN.replace("{dataset}", "digits").replace("{epochs}", "20"),
    ),
    "branching": (
        "two branches, a concatenation and a residual connection (functional and subclass only)",
        """\
name: {name}
api: functional               # a branching graph has no Sequential form
seed: 7
inputs:
  - {{name: features, shape: [13]}}
layers:
  # `inputs:` says what a layer reads; without it, a layer reads the one above it.
  - {{type: Dense, name: wide, units: 16, activation: relu, inputs: features}}
  - {{type: Dense, name: deep1, units: 16, activation: relu, inputs: features}}
  - {{type: Dense, name: deep2, units: 16, activation: relu}}
  - {{type: Add, name: residual, inputs: [deep1, deep2]}}          # same shapes, summed
  - {{type: Concatenate, name: joined, inputs: [wide, residual]}}  # (None, 32)
  - {{type: BatchNormalization, name: norm}}
  - {{type: Dense, name: cultivar, units: 3, activation: softmax}}
outputs: [cultivar]           # optional: the last layer by default
"""
        + _COMPILE_TRAIN.replace("{dataset}", "wine").replace("{epochs}", "50"),
    ),
    "rnn": (
        "a recurrent network reading each 8x8 digit as 8 steps of 8 pixels",
        """\
name: {name}
api: functional
seed: 7
inputs:
  - {{name: rows, shape: [8, 8]}}      # (time steps, features per step)
layers:
  - {{type: LSTM, name: lstm, units: 32, return_sequences: true}}
  - {{type: Bidirectional, name: bigru, layer: {{type: GRU, units: 16}}, merge_mode: concat}}
  - {{type: Dense, name: digit, units: 10, activation: softmax}}
"""
        + _COMPILE_TRAIN.replace("{dataset}", "digits").replace("{epochs}", "20"),
    ),
}


def render(template: str, name: str, file: str) -> str:
    """The spec text of `template`, named `name`, with `file` in its usage comments."""
    description, body = TEMPLATES[template]
    head = _HEADER.format(file=file, name=name)
    return f"# {description[0].upper()}{description[1:]}.\n" + head + body.format(name=name)
