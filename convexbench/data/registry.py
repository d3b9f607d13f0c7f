"""The dataset registry (TOML package data) and the dataset-name syntax.

Registry files live in ``convexbench/registry/<family>.toml`` (package data, so they ship in a
wheel).  Each holds a ``[family]`` table (title, licence, citation, source, URLs) and one
table per dataset or preset with n, d, classes, task and, for real data, per-file sha256.

Dataset names
-------------
``family:name[,key=value...]`` -- one colon after the family, then comma-separated tokens.
Tokens without ``=`` form the name (they may themselves contain commas, e.g. a class list);
tokens with ``=`` are options and must come after the name.  Examples::

    synthetic:teacher2,n=200,d=10,noise=0.1,task=binary
    synthetic:lowrank,n=500,d=20,rank=3
    synthetic:spiral,n=200
    uci:blood                  # fold 1 of conxuntos_kfold.dat
    uci:blood,fold=2           # fold=1..4, fold=half (conxuntos.dat), fold=official
    fashion-mnist:0v9,n=200,size=7
    fashion-mnist:0,1,2,n=100,pca=20
    openml:31  /  openml:credit-g

The seed is not part of the name: pass it as ``load_dataset(name, seed=...)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from convexbench.errors import UserError

__all__ = ["FAMILIES", "DatasetSpec", "family_table", "parse_name", "registry"]

FAMILIES = ("synthetic", "uci", "fashion-mnist", "openml")
_REGISTRY_FILES = {
    "synthetic": "synthetic.toml",
    "uci": "uci.toml",
    "fashion-mnist": "fashion_mnist.toml",
    "openml": "openml.toml",
}
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
SYNTAX_HELP = (
    "dataset names are family:name[,key=value...], e.g. synthetic:teacher2,n=200,d=10, "
    "uci:blood,fold=2, fashion-mnist:0v9,n=200,size=7, openml:31"
)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset name: family, name and options (sorted ``(key, value)`` pairs)."""

    family: str
    name: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def option_dict(self) -> dict[str, str]:
        """Options as a dict of raw strings."""
        return dict(self.options)

    @property
    def canonical(self) -> str:
        """The name written back in canonical form (options in given order)."""
        opts = "".join(f",{k}={v}" for k, v in self.options)
        return f"{self.family}:{self.name}{opts}"


def parse_name(text: str) -> DatasetSpec:
    """Parse ``family:name[,key=value...]``; raise UserError on bad syntax."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"empty dataset name; {SYNTAX_HELP}")
    text = text.strip()
    family, sep, body = text.partition(":")
    family = family.strip().lower()
    if not sep:
        hint = _bare_name_hint(text)
        raise UserError(f"dataset name {text!r} has no family prefix{hint}; {SYNTAX_HELP}")
    if family not in FAMILIES:
        close = difflib.get_close_matches(family, FAMILIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(
            f"unknown dataset family {family!r}{hint}; families: {', '.join(FAMILIES)}"
        )
    name_tokens: list[str] = []
    options: list[tuple[str, str]] = []
    for raw in body.split(","):
        token = raw.strip()
        if not token:
            raise UserError(f"empty item in dataset name {text!r}; {SYNTAX_HELP}")
        if "=" in token:
            key, _, value = token.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not _KEY.match(key) or not value:
                raise UserError(f"bad option {token!r} in {text!r}; options are key=value")
            if key in dict(options):
                raise UserError(f"option {key!r} given twice in {text!r}")
            options.append((key, value))
        else:
            if options:
                raise UserError(
                    f"{token!r} follows an option in {text!r}; the name comes before options"
                )
            name_tokens.append(token)
    if not name_tokens:
        raise UserError(f"dataset name {text!r} has no name after {family}:; {SYNTAX_HELP}")
    if "seed" in dict(options):
        raise UserError("the seed is not part of a dataset name; pass it separately (--seed)")
    return DatasetSpec(family=family, name=",".join(name_tokens), options=tuple(options))


def _bare_name_hint(text: str) -> str:
    try:
        uci_names = registry("uci")["datasets"].keys()
    except (FileNotFoundError, KeyError):
        return ""
    return f" (did you mean 'uci:{text}'?)" if text in uci_names else ""


@cache
def registry(family: str) -> dict[str, Any]:
    """The parsed TOML registry of ``family`` (cached; treat it as read-only)."""
    if family not in _REGISTRY_FILES:
        raise UserError(f"unknown dataset family {family!r}")
    entry = resources.files("convexbench") / "registry" / _REGISTRY_FILES[family]
    return tomllib.loads(entry.read_text(encoding="utf-8"))


def family_table(family: str) -> dict[str, Any]:
    """The ``[family]`` table: title, licence, citation, source, URLs."""
    return registry(family)["family"]


def suggest(name: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Options:
    """Typed access to a spec's options that reports unknown keys and bad values."""

    def __init__(self, spec: DatasetSpec, allowed: set[str]) -> None:
        self.spec = spec
        self.values = spec.option_dict
        unknown = sorted(set(self.values) - allowed)
        if unknown:
            raise UserError(
                f"unknown option(s) {', '.join(unknown)} for {spec.family}:{spec.name}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        """An integer option ``>= minimum``."""
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise UserError(f"option {key}={raw!r} must be an integer") from None
        if value < minimum:
            raise UserError(f"option {key}={value} must be >= {minimum}")
        return value

    def real(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        """A finite float option ``>= minimum``."""
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise UserError(f"option {key}={raw!r} must be a number") from None
        if not value >= minimum or value == float("inf"):
            raise UserError(f"option {key}={raw} must be a finite number >= {minimum}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices``."""
        value = self.values.get(key, default).lower()
        if value not in choices:
            raise UserError(f"option {key}={value!r} must be one of {', '.join(choices)}")
        return value

    def text(self, key: str) -> str | None:
        """The raw string, or None."""
        return self.values.get(key)
