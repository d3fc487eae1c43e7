"""Import existing Keras models (a `.keras` file, `model.to_json()`, `keras.applications`) as specs.

The inverse of `kspec.builders`: a Keras model's configuration becomes the spec a person would
write (Keras's names, arguments equal to Keras's defaults left out).
"""
