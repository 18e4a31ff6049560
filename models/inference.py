"""Inference through the LiteRT interpreter: the only way web processes run
the CNN (TensorFlow is never imported here, nor in anything a web process
loads; training, evaluation and the export stay on Keras in the worker).

Every registered version carries a LiteRT flatbuffer with one signature,
``serving_default``: input ``image`` float32 (N, 28, 28, 1) (``model_input``'s
output), and one output per visible layer, named after the layer; the last,
``output``, is the ten probabilities.  Invoking it once gives the answer and
everything the page draws, in about 0.2 ms on one core.

The interpreter is not thread-safe, so a Predictor keeps one per thread
(gunicorn's sync workers have one thread; runserver and gthread workers
more).  Interpreters are cheap: a few hundred kilobytes beside the weights.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .model_input import model_input

# Layers whose outputs the visualisation shows (types as Keras names them).
VISIBLE_LAYER_TYPES = ("Conv2D", "MaxPooling2D", "Dense")
SIGNATURE = "serving_default"
INPUT_NAME = "image"
PROBABILITIES = "output"  # the name of the last layer, and of its signature output
BATCH_CHUNK = 16  # predict_batch runs this many images per invoke: bounded memory, little padding


class ExportFormatError(ValueError):
    """A LiteRT flatbuffer that does not have the signature serving needs."""


def visible_layers(architecture: list[dict]) -> list[str]:
    """The names of the layers the page shows, in model order, from the
    registry's architecture summary."""
    return [layer["name"] for layer in architecture if layer["type"] in VISIBLE_LAYER_TYPES]


@dataclass
class Prediction:
    probabilities: np.ndarray  # (10,) float32
    activations: dict[str, np.ndarray] | None = None  # layer name -> (H, W, C) or (units,)

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))


class _Runner:
    """One interpreter allocated for a fixed batch size, with its tensor
    indices looked up once (set_tensor/invoke/get_tensor on them is the
    cheapest call path the library offers)."""

    def __init__(self, content: bytes, *, batch: int, threads: int, layer_names: list[str]):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=content, num_threads=threads)
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ExportFormatError(f"the LiteRT model has no {SIGNATURE!r} signature (has {sorted(signatures)})")
        runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        del runner  # it holds the interpreter's internals, which resizing refuses while referenced
        missing = [name for name in [*layer_names, PROBABILITIES] if name not in outputs]
        if INPUT_NAME not in inputs or missing:
            raise ExportFormatError(f"the LiteRT signature lacks input {INPUT_NAME!r} or outputs {missing}")
        self.input_index = inputs[INPUT_NAME]["index"]
        self.output_index = {name: outputs[name]["index"] for name in layer_names}
        self.probabilities_index = outputs[PROBABILITIES]["index"]
        self.interpreter.resize_tensor_input(self.input_index, [batch, 28, 28, 1], strict=False)
        self.interpreter.allocate_tensors()

    def run(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()

    def get(self, index: int) -> np.ndarray:
        return self.interpreter.get_tensor(index)  # a copy: safe after the next invoke


class Predictor:
    """The served model of one version: probabilities and activations from
    its LiteRT flatbuffer.  ``content`` is the verified artifact's bytes;
    ``layer_names`` the visible layers in model order (``visible_layers``)."""

    def __init__(self, content: bytes, *, layer_names: list[str], threads: int = 1):
        self.content = content
        self.layer_names = list(layer_names)
        self.threads = threads
        self._local = threading.local()
        self._runner()  # fail now, in the loading thread, on a malformed artifact

    def _runner(self, batch: int = 1) -> _Runner:
        runners = self._local.__dict__.setdefault("runners", {})
        runner = runners.get(batch)
        if runner is None:
            runner = runners[batch] = _Runner(
                self.content, batch=batch, threads=self.threads, layer_names=self.layer_names
            )
        return runner

    def predict(self, x28: np.ndarray, *, activations: bool = False) -> Prediction:
        """One 28x28 uint8 image (ink white on black)."""
        runner = self._runner()
        runner.run(model_input(x28))
        probabilities = runner.get(runner.probabilities_index)[0]
        if not activations:
            return Prediction(probabilities)
        acts = {name: runner.get(index)[0] for name, index in runner.output_index.items()}
        return Prediction(probabilities, acts)

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Probabilities, float32 (N, 10), for N images: uint8 (N, 28, 28), or
        already model input, float32 (N, 28, 28, 1) in [0, 1] (for callers
        that alter the input, such as occlusion maps).  Runs BATCH_CHUNK images
        per invoke through a second interpreter of this thread, so memory
        stays bounded whatever N is."""
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = model_input(x)
        if x.dtype != np.float32 or x.shape[1:] != (28, 28, 1):
            raise ValueError(f"expected uint8 (N, 28, 28) or float32 (N, 28, 28, 1), got {x.dtype} {x.shape}")
        out = np.empty((len(x), 10), np.float32)
        for start, n, runner in self._chunks_run(x):
            out[start : start + n] = runner.get(runner.probabilities_index)[:n]
        return out

    def predict_batch_features(self, x: np.ndarray, *, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, 10) and the outputs of ``layer`` (N, units) for N
        uint8 images, as ``predict_batch`` runs them: the features of the
        layer before the output are the model's own embedding of a drawing
        (the triage compares drawings in it)."""
        if layer not in self.layer_names:
            raise ValueError(f"{layer!r} is not a visible layer ({self.layer_names})")
        x = model_input(np.asarray(x, np.uint8))
        probabilities, features = np.empty((len(x), 10), np.float32), None
        for start, n, runner in self._chunks_run(x):
            out = runner.get(runner.output_index[layer])[:n].reshape(n, -1)
            if features is None:
                features = np.empty((len(x), out.shape[1]), np.float32)
            features[start : start + n] = out
            probabilities[start : start + n] = runner.get(runner.probabilities_index)[:n]
        return probabilities, features if features is not None else np.empty((0, 0), np.float32)

    def _chunks_run(self, x: np.ndarray):
        """Run model input ``x`` BATCH_CHUNK images an invoke through this
        thread's batch interpreter, yielding (start, count, runner) after
        each invoke, the last chunk padded with zeros."""
        runner = self._runner(BATCH_CHUNK)
        chunk = np.zeros((BATCH_CHUNK, 28, 28, 1), np.float32)
        for start in range(0, len(x), BATCH_CHUNK):
            part = x[start : start + BATCH_CHUNK]
            chunk[: len(part)] = part
            chunk[len(part) :] = 0
            runner.run(chunk)
            yield start, len(part), runner

    def warm_up(self) -> None:
        blank = np.zeros((28, 28), np.uint8)
        self.predict(blank)
        self.predict(blank, activations=True)
