"""Small Python hooks for the irregular parts of the built-in formats.

Everything regular is declared in ``postpulse/ingest/mappings/*.toml``; what cannot be said
with paths lives here and is referenced from the mappings by name:

* :mod:`.transforms` -- value transforms (``transform = "linkedin_activity_id"``)
* :mod:`.hooks` -- record hooks run after the field mapping (``hooks = ["tiktok_stats"]``)
* :mod:`.expanders` -- containers that hold several records (``expand = "..."``)
* :mod:`.flatten` -- un-flattening of ``a.b`` / ``a/0/b`` keys (CSV, flattened JSONL)
"""
