"""arcctl: the console (CLI + Textual dashboard). Depends on `jobs`; never on torch/transformers/trl."""

__version__ = "0.1.0"
