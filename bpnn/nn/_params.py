"""Hyper-parameters declared once, by the class that uses them.

An optimizer, a learning-rate schedule or an activation declares its
hyper-parameters as its constructor's keyword arguments, with their
defaults, and says in :attr:`Configurable.param_help` what each one means.
Everything else reads them from there (as scikit-learn's ``get_params`` and
Keras' ``get_config`` do): the settings of ``bpnn train``, its ``--help``,
TOML files and model files.  Adding a hyper-parameter to a class is the
only change needed to reach it from the command line.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["Configurable"]


class Configurable:
    """Mixin: hyper-parameters from the constructor's signature."""

    #: One line per hyper-parameter: what it means (shown in ``--help``).
    param_help: dict[str, str] = {}

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """The constructor's keyword arguments and their defaults.

        Arguments without a default (a cosine schedule's ``epochs``) are
        supplied by the training run, not by a user, and are left out.
        """
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return {p.name: p.default for p in parameters
                if p.default is not inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    @classmethod
    def param_description(cls, name: str) -> str:
        """What ``name`` means, from the nearest class that says (``""`` if none does)."""
        for klass in cls.__mro__:
            text = vars(klass).get("param_help", {}).get(name)
            if text:
                return text
        return ""

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters of this instance, by name."""
        return {name: getattr(self, name) for name in self.param_defaults()}
