"""The review feature in one place: its pages (``views``, ``urls``), its JSON
(``api``), with its templates under ``digits/templates/digits/review/`` and
its script and style under ``digits/static/digits/review/``.  Its writes are
digits.services, its reads ``selectors`` (the queue and the statistics)."""
