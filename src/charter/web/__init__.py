"""The web view: a read-only FastAPI app over the library (``create_app``), its JSON API under ``/api/``
(the CLI's ``--json`` objects, charter.report.views) and a small static front end (``static/``, Cytoscape.js vendored)."""
