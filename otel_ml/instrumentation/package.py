"""The libraries the auto-instrumentors support, by entry-point name (contrib's ``package.py``).

Each instrumentor's ``instrumentation_dependencies()`` returns its entry here; the extra of the
same library in pyproject.toml (``sklearn``, ``torch``, ``onnx``) installs it (a test checks
that they agree). ``_instruments_any``: any one requirement will do (either distribution
provides the module).
"""

_instruments = {
    "sklearn": ("scikit-learn >= 1.3",),
    "torch": ("torch >= 2.0",),
}

_instruments_any = {
    "onnxruntime": ("onnxruntime >= 1.16", "onnxruntime-gpu >= 1.16"),
}

#: The pyproject.toml extra that installs each library.
_extras = {"sklearn": "sklearn", "torch": "torch", "onnxruntime": "onnx"}

_supports_metrics = True
