"""Stage 2: resolve the wiring, infer shapes, count parameters. No Keras here."""
