"""Generate ``bluecurrent_sync/models/_generated.py`` from ``schemas/models/``.

Run ``python -m codegen`` (``make codegen``) to regenerate, ``python -m codegen --check``
(``make codegen-check``) to fail when the committed file is stale. See README.md.
"""

from codegen._generate import ROOT, SCHEMA_DIR, TARGET, bundle_schemas, check, generate, render

__all__ = ["ROOT", "SCHEMA_DIR", "TARGET", "bundle_schemas", "check", "generate", "render"]
