"""Names Keras offers, kept here so that `kspec check` never imports Keras.

`tests/test_names_drift.py` compares every list with the installed Keras, so a Keras
upgrade that adds or removes a name fails a test instead of silently drifting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

ACTIVATIONS = frozenset(
    """
celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu
linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus
softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh tanh_shrink threshold
""".split()
)

INITIALIZERS = frozenset(
    """
Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity IdentityInitializer LecunNormal
LecunUniform Ones Orthogonal OrthogonalInitializer RandomNormal RandomUniform STFT STFTInitializer
TruncatedNormal VarianceScaling Zeros constant glorot_normal glorot_uniform he_normal he_uniform
identity lecun_normal lecun_uniform ones orthogonal random_normal random_uniform stft
truncated_normal variance_scaling zeros
""".split()
)

REGULARIZERS = frozenset("L1 L1L2 L2 OrthogonalRegularizer l1 l1_l2 l2 orthogonal_regularizer".split())

CONSTRAINTS = frozenset("MaxNorm MinMaxNorm NonNeg UnitNorm max_norm min_max_norm non_neg unit_norm".split())

OPTIMIZERS = frozenset(
    """
Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lion Muon Nadam RMSprop SGD ScheduleFreeAdamW
adadelta adafactor adagrad adam adamw adamax ftrl lion muon nadam rmsprop sgd
""".split()
)

LEARNING_RATE_SCHEDULES = frozenset(
    """
CosineDecay CosineDecayRestarts ExponentialDecay InverseTimeDecay PiecewiseConstantDecay
PolynomialDecay
""".split()
)

LOSSES = frozenset(
    """
BinaryCrossentropy BinaryFocalCrossentropy CTC CategoricalCrossentropy CategoricalFocalCrossentropy
CategoricalHinge Circle CosineSimilarity Dice Hinge Huber
KLDivergence LogCosh MeanAbsoluteError MeanAbsolutePercentageError MeanSquaredError
MeanSquaredLogarithmicError Poisson SparseCategoricalCrossentropy SquaredHinge Tversky
binary_crossentropy binary_focal_crossentropy categorical_crossentropy
categorical_focal_crossentropy categorical_hinge circle
cosine_similarity ctc dice hinge huber kl_divergence log_cosh mean_absolute_error
mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error poisson
sparse_categorical_crossentropy squared_hinge tversky mse mae mape msle
""".split()
)

METRICS = frozenset(
    """
AUC Accuracy BinaryAccuracy BinaryCrossentropy BinaryIoU CategoricalAccuracy CategoricalCrossentropy
CategoricalHinge ConcordanceCorrelation CosineSimilarity F1Score FBetaScore FalseNegatives
FalsePositives Hinge IoU KLDivergence LogCoshError Mean MeanAbsoluteError MeanAbsolutePercentageError
MeanIoU MeanSquaredError MeanSquaredLogarithmicError OneHotIoU OneHotMeanIoU PearsonCorrelation
Poisson Precision PrecisionAtRecall R2Score Recall RecallAtPrecision RootMeanSquaredError
SensitivityAtSpecificity SparseCategoricalAccuracy SparseCategoricalCrossentropy
SparseTopKCategoricalAccuracy SpecificityAtSensitivity SquaredHinge Sum TopKCategoricalAccuracy
TrueNegatives TruePositives
accuracy acc binary_accuracy binary_crossentropy categorical_accuracy
categorical_crossentropy categorical_hinge concordance_correlation
hinge kl_divergence mean_absolute_error mean_absolute_percentage_error
mean_squared_error mean_squared_logarithmic_error pearson_correlation poisson
sparse_categorical_accuracy sparse_categorical_crossentropy sparse_top_k_categorical_accuracy
squared_hinge top_k_categorical_accuracy mse mae mape msle
""".split()
)

CALLBACKS = frozenset(
    """
BackupAndRestore CSVLogger EarlyStopping LearningRateScheduler ModelCheckpoint ReduceLROnPlateau
SwapEMAWeights TensorBoard TerminateOnNaN
""".split()
)

#: Callbacks that run code from their arguments or reach the network.
UNSAFE_CALLBACKS = frozenset("LambdaCallback RemoteMonitor".split())

KERAS_LAYERS = frozenset(
    """
Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add
AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D
AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization Bidirectional
CategoryEncoding CenterCrop Concatenate ContrastLimitedAdaptiveHistogramEqualization Conv1D
Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D
Convolution1D Convolution1DTranspose Convolution2D Convolution2DTranspose Convolution3D
Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix Dense DepthwiseConv1D
DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense Embedding Equalization Flatten FlaxLayer
GRU GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D
GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D GlobalMaxPool1D
GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
GroupNormalization GroupQueryAttention HashedCrossing Hashing Identity IntegerLookup JaxLayer LSTM
Lambda LayerNormalization LeakyReLU Masking MaxNumBoundingBoxes MaxPool1D MaxPool2D MaxPool3D
MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp MultiHeadAttention
Multiply Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment RandomBrightness
RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop RandomElasticTransform
RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale RandomHue RandomInvert
RandomPerspective RandomPosterization RandomRotation RandomSaturation RandomSharpness RandomShear
RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape Resizing ReversibleEmbedding
STFTSpectrogram SeparableConv1D SeparableConv2D SeparableConvolution1D SeparableConvolution2D
SimpleRNN Softmax Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D
SpectralNormalization StackedRNNCells StringLookup Subtract TFSMLayer TextVectorization
TimeDistributed TorchModuleWrapper UnitNormalization UpSampling1D UpSampling2D UpSampling3D
ZeroPadding1D ZeroPadding2D ZeroPadding3D
""".split()
)

#: Layers that run code that is not Keras's own (a Python function, a SavedModel, a foreign
#: framework module) or that need a cell object kspec cannot express: refused unless the user
#: passes --allow-unsafe.
UNSAFE_LAYERS = frozenset("Lambda TFSMLayer JaxLayer FlaxLayer TorchModuleWrapper".split())

#: Layer arguments whose `{type: ...}` value the builders turn into a layer (a wrapper's layer):
#: validated like a top-level layer, at any depth.
LAYER_ARGS = ("layer", "backward_layer")

DTYPES = frozenset(
    "float16 bfloat16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 bool string".split()
)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'relu'?"`, or `""` when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown(kind: str, word: object, choices: Iterable[str]) -> str:
    """One-line message for an unknown name."""
    hint = did_you_mean(word, choices) if isinstance(word, str) else ""
    return f"unknown {kind} {word!r}{hint}"
