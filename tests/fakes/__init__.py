"""Fakes for hardware that is absent on test machines (NVML, vendor tools)."""
