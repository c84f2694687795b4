"""SynthGaze adapter: the embedded default, read from its own layout (labels.csv + JPEGs).

The layout's writer is :func:`gazebench.datasets.synthgaze.layout.write_synthgaze` (the renderer is
:mod:`gazebench.synth`).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, GazeDataset

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

DEFAULT_PRESET = "default"
DEFAULT_SEED = 0
#: the render's description, written beside labels.csv (layout.py)
MANIFEST = "synthgaze.json"
#: the generator version of a tree whose manifest names none
UNKNOWN = "unknown"


@DATASETS.register("synthgaze")
class SynthGaze(GazeDataset):
    """Procedurally rendered heads with exact labels; no download (the default dataset)."""

    name = "synthgaze"
    subsets = ("front180", "front20", "back")
    declared_options = {
        "variant": Option(
            "original",
            one_of("original", "inpainted"),
            "images/ (wearers wear their glasses) or inpainted/ (nobody does)",
        ),
    }
    layout_writer = "gazebench.datasets.synthgaze.layout:write_synthgaze"

    def ensure_root(self) -> None:
        if not self.root_given:
            self._render_default_root()
        super().ensure_root()
        self._check_generator()

    def _render_default_root(self) -> None:
        """Render the default root on first use, and again when it was rendered by another
        generator version (the old render is removed only once the new one is complete)."""
        from gazebench.synth import GENERATOR_VERSION, make_scene, write_layout

        if (self.root / "labels.csv").exists():
            found = rendered_version(self.root)
            if found == GENERATOR_VERSION:
                return
            old = self.root.with_name(f"{self.root.name}.stale-{found}")
            print(
                f"SynthGaze: the default root {self.root} was rendered by generator {found}; this gazebench "
                f"renders {GENERATOR_VERSION}, so it renders the {DEFAULT_PRESET!r} preset (seed {DEFAULT_SEED}) anew.",
                file=sys.stderr,
            )
            if old.exists():
                shutil.rmtree(old)
            self.root.rename(old)
        else:
            old = None
            print(
                f"SynthGaze: no data at the default root {self.root}; rendering the {DEFAULT_PRESET!r} "
                f"preset (seed {DEFAULT_SEED}) there first.",
                file=sys.stderr,
            )
        write_layout(make_scene(DEFAULT_PRESET, DEFAULT_SEED), self.root, layout="synthgaze")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _check_generator(self) -> None:
        """A render by another generator version is stale: its images and labels are not the ones
        this version's card, splits and published numbers describe. A tree whose manifest names no
        generator (made by hand in this layout) is taken as it is."""
        from gazebench.synth import GENERATOR_VERSION

        damaged = manifest_problem(self.root)
        if damaged:
            self.report_problem("manifest", self.root / MANIFEST, damaged)
            return
        found = rendered_version(self.root)
        if found not in (GENERATOR_VERSION, UNKNOWN):  # a hand-made tree records no generator
            preset = manifest_value(self.root, "preset", {}).get("name", "default")
            seed = manifest_value(self.root, "seed", 0)
            raise DatasetError(
                f"{self.root / MANIFEST}: rendered by SynthGaze generator {found}, this gazebench renders "
                f"{GENERATOR_VERSION}; render it anew: gazebench synth --out NEW_DIR --preset {preset} --seed {seed}"
            )

    def released_subjects(self) -> list[str] | None:
        """The subjects of the rendered preset (``synthgaze.json``): the card's split lists name
        up to the largest preset's."""
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
            return [str(s["id"]) for s in manifest["subjects"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def build_index(self) -> pd.DataFrame:
        path = self.root / "labels.csv"
        try:
            labels = pd.read_csv(path, dtype={"subject": str, "sequence": str, "id": str})
        except (OSError, pd.errors.ParserError) as exc:
            raise DatasetError(f"{path}: cannot parse: {exc}") from exc
        index = labels.rename(columns={"frame": "order"})
        if self.options["variant"] == "inpainted":
            index["path"] = index["path"].str.replace(r"^images/", "inpainted/", regex=True)
        index["centre"] = True
        return index


def manifest_problem(root: Path) -> str | None:
    """What is wrong with a render's ``synthgaze.json`` when it is there but not a JSON object
    (truncated, edited by hand): the generator version, preset and subjects cannot be trusted."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        why = f"cannot be read as JSON ({exc})"
    else:
        if isinstance(manifest, dict):
            return None
        why = f"holds a JSON {type(manifest).__name__}, not the render's description"
    return f"{why}; render the tree anew: gazebench synth --out DIR --preset NAME --seed N"


def manifest_value(root: Path, key: str, default):
    """One entry of a render's ``synthgaze.json`` (``default`` when it or the file is missing)."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return default
    return manifest.get(key, default) if isinstance(manifest, dict) else default


def rendered_version(root: Path) -> str:
    """The generator version a SynthGaze root was rendered by (``unknown`` without a manifest)."""
    return str(manifest_value(root, "generator_version", UNKNOWN))
