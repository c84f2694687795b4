"""docs/architecture.md draws gazebench's layers; pyproject.toml's import-linter ``layers`` contract
enforces them (``lint-imports`` in CI).  The two lists must name the same modules in the same layers,
in the same order, so the page cannot drift from what is checked."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: a layer's line in the page's drawing starts with its modules: ``  planning.py, launch.py   words``
NAMES = re.compile(r"^  ((?:\w+(?:\.py|/))(?:, \w+(?:\.py|/))*)(?:\s|$)")


def doc_layers() -> list[set[str]]:
    text = (ROOT / "docs/architecture.md").read_text()
    section = text[text.index("## Layers") :]
    block = section.split("```\n")[1]
    layers: list[set[str]] = [set()]
    for line in block.splitlines():
        if line.strip() == "│":
            layers.append(set())
        elif m := NAMES.match(line):
            for name in m.group(1).split(", "):
                layers[-1].add("gazebench." + name.removesuffix(".py").removesuffix("/"))
    return layers


def contract_layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return [{m.strip() for m in re.split(r"[:|]", layer)} for layer in contract["layers"]]


def test_the_page_draws_the_contracts_layers():
    assert doc_layers() == contract_layers()


def test_every_module_of_the_package_is_in_a_layer():
    """A new top-level module or package must be given its layer (in the contract and on the page)."""
    package = ROOT / "gazebench"
    modules = {
        f"gazebench.{p.stem}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert modules == set().union(*contract_layers())


def test_a_layer_line_is_read_as_its_modules():
    """The parser itself: a layer line, a wrapped description line and a separator."""
    assert NAMES.match("  models/, losses.py         registered").group(1) == "models/, losses.py"
    assert NAMES.match("                             by a transformer encoder") is None
