"""Backends: one interface (`jobs.backends.base.Backend`), one module per scheduler."""
