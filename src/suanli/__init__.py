"""suanli: measures, certifies and reports data-center computing power to a national platform."""

__version__ = "0.1.0"
