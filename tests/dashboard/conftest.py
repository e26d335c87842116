"""Dashboard fixtures: the control-plane app and helpers of tests/controlplane, reused."""

from tests.controlplane.conftest import Helper, client, config, helper  # noqa: F401 - fixtures re-exported
