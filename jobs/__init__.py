"""Job model and launching: specs, templates, registry, backends, run-dir readers, health.

Pure Python: never imports textual, torch, transformers or trl.
"""
