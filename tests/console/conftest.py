"""The console CLI tests use the foundation fixtures: a private ARCCTL_HOME and config dir, fake
trainer templates (real processes), and the real `arcctl` binary."""
from tests.foundation.conftest import home  # noqa: F401 - a fixture
