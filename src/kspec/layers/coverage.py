"""Public `keras.layers` classes the registry has no rule for, and why.

`tests/test_layer_coverage.py` lists every layer class of the installed Keras and fails when
one is neither in the registry nor here, so a Keras upgrade that adds a layer is noticed.
A spec may still use most of these (Keras checks them at build time; `kspec check` shows `?`).
"""

from __future__ import annotations

_RANDOM = "random data augmentation: an identity at inference with no weights, random while training"

UNCHECKED: dict[str, str] = {
    # Not layers a spec writes
    "Layer": "the base class of every layer, not a layer itself",
    "Wrapper": "the base class of Bidirectional and TimeDistributed",
    "InputLayer": "a spec's `inputs:` entries are the input layers",
    "RNN": "the generic RNN wraps a cell object; SimpleRNN, LSTM and GRU are RNN with their cells",
    "SimpleRNNCell": "a cell takes (inputs, states) one step at a time; use SimpleRNN",
    "LSTMCell": "a cell takes (inputs, states) one step at a time; use LSTM",
    "GRUCell": "a cell takes (inputs, states) one step at a time; use GRU",
    "StackedRNNCells": "a list of cells for the generic RNN; stack SimpleRNN/LSTM/GRU layers instead",
    "Pipeline": "a list of preprocessing layers applied in turn: write the layers one after another",
    # Code, or a model from outside Keras: never run from a spec
    "Lambda": "runs a Python function; refused unless --allow-unsafe, never checked",
    "TFSMLayer": "loads a TensorFlow SavedModel from a path: code and weights outside the spec",
    "JaxLayer": "wraps a JAX function: code outside the spec",
    "FlaxLayer": "wraps a Flax module: code outside the spec",
    "TorchModuleWrapper": "wraps a PyTorch module: code outside the spec",
    # Vocabularies are data
    "IntegerLookup": "its vocabulary is data (adapt() or a file); the output depth depends on it",
    "StringLookup": "its vocabulary is data (adapt() or a file), and kspec inputs are numeric",
    "TextVectorization": "takes strings and a learned vocabulary; kspec inputs are numeric",
    "HashedCrossing": "crosses a tuple of categorical features (a dict/tuple input, not one tensor)",
    # Signal processing whose output length depends on framing arithmetic not yet modelled
    "MelSpectrogram": "audio front end; output frames depend on its STFT framing (not modelled yet)",
    "STFTSpectrogram": "audio front end with fixed STFT weights; framing not modelled yet",
    "MaxNumBoundingBoxes": "works on bounding-box dictionaries, not tensors",
    "ContrastLimitedAdaptiveHistogramEqualization": "CLAHE on images (tiles, clip limit): no weights, shape unchanged; not modelled yet",
    # Random augmentation
    "AugMix": _RANDOM,
    "CutMix": _RANDOM,
    "MixUp": _RANDOM,
    "RandAugment": _RANDOM,
    "RandomBrightness": _RANDOM,
    "RandomColorDegeneration": _RANDOM,
    "RandomColorJitter": _RANDOM,
    "RandomContrast": _RANDOM,
    "RandomCrop": _RANDOM + " (the crop size is the output size)",
    "RandomElasticTransform": _RANDOM,
    "RandomErasing": _RANDOM,
    "RandomFlip": _RANDOM,
    "RandomGaussianBlur": _RANDOM,
    "RandomGrayscale": _RANDOM,
    "RandomHue": _RANDOM,
    "RandomInvert": _RANDOM,
    "RandomPerspective": _RANDOM,
    "RandomPosterization": _RANDOM,
    "RandomRotation": _RANDOM,
    "RandomSaturation": _RANDOM,
    "RandomSharpness": _RANDOM,
    "RandomShear": _RANDOM,
    "RandomTranslation": _RANDOM,
    "RandomZoom": _RANDOM,
    "Solarization": _RANDOM + " (its thresholds are drawn per call)",
}
