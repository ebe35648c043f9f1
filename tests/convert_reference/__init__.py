"""A frozen copy of the converter before the speed-up (commit a413ca7), the oracle only.

``test_convert_equivalence.py`` checks that the package's :class:`WireConverter` returns an
equal model, or raises the same error with the same ``field`` and message, as this copy for
every sample frame and for generated mutations of them; ``bench/convert_ab.py`` times the
two side by side. Never import it from the package.
"""
