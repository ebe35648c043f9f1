"""The base class of every generated model: what Jupyter needs to show it as a table.

Kept apart from the generated code (which is never edited by hand): the codegen template names
`ModelBase` as the base of each attrs class.
"""

from __future__ import annotations

__all__ = ["ModelBase"]


class ModelBase:
    """Mixin of every model: an HTML rendering for Jupyter (``_repr_html_``)."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        """An HTML table of the model's fields (what Jupyter shows for a model)."""
        from bluecurrent_sync._tabular import model_html

        return model_html(self)
