"""Run tags the run coordinator limits (``postpulse up`` writes the limits into dagster.yaml):
one run at a time per platform, and one per value of the serial tag."""

PLATFORM_TAG = "postpulse/platform"
SERIAL_TAG = "postpulse/serial"
