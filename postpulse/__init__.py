"""postpulse: social media metrics and engagement pipeline on Dagster.

The ``postpulse`` package holds the plain-Python domain logic (store, identifiers, parsers,
policy engine, crypto, sandbox). Dagster lives in ``orchestration``, ``assets`` and
``resources`` and is a thin shell over this package.
"""

__version__ = "0.1.0"
