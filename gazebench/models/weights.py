"""Which backbone weights a model starts from, where the file is, and proof of which file it was.

A model's ``pretrained`` is ``false`` (random initialisation), ``true`` (timm's default tag for the
backbone) or a timm tag (``tv_in1k`` -> ``resnet18.tv_in1k``, torchvision's V1 ImageNet weights,
which the originals load); ``weights_file`` names a local file instead.  :func:`resolve_weights`
finds the file *before* timm is asked for anything:

1. in the caches timm downloads to: the Hugging Face hub cache (the tag's ``hf_hub_id``; files
   ``model.safetensors`` or ``pytorch_model.bin``, or the tag's ``hf_hub_filename``) and the torch
   hub folder (``<torch hub>/checkpoints/<file name of the tag's url>``);
2. otherwise it downloads the file into those caches, unless the machine is offline
   (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set): then, or when the download fails, building
   the model stops with one line naming ``weights_file=`` and both cache folders.  Never a silent
   random initialisation.

The file is then loaded through timm (``pretrained_cfg_overlay=dict(file=...)``, so timm's own
key filters apply) and its SHA-256 is recorded: :class:`Weights`, ``model.weights`` in a result.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm

from gazebench.core.options import ConfigError

#: environment variables that switch the Hugging Face hub (and so timm's downloads) offline
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: the file names timm fetches from a hub repository (timm.models._hub: HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME)
HF_FILES = ("model.safetensors", "pytorch_model.bin")
_FALSE = ("", "false", "no", "off", "0", "none", "null")
_TRUE = ("true", "yes", "on", "1")


@dataclass(frozen=True)
class Weights:
    """``tag``: ``"<backbone>.<tag>"`` (timm's), ``"none"`` (random init) or ``"file"`` (a local
    ``weights_file``); ``file``: the path loaded; ``sha256``: hex digest of that file."""

    tag: str = "none"
    file: str | None = None
    sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_pretrained(value: Any) -> bool | str:
    """The ``pretrained`` option as given (bool, or text from a command line or card) -> False,
    True, or a tag string."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip()
    if text.lower() in _FALSE:
        return False
    return True if text.lower() in _TRUE else text


def timm_name(backbone: str, pretrained: bool | str) -> str | None:
    """``"<arch>.<tag>"`` for ``pretrained`` on ``backbone`` (None for False); a tag the backbone
    does not have is a :class:`ConfigError` that lists the ones it has."""
    pretrained = parse_pretrained(pretrained)
    if pretrained is False:
        return None
    arch, own_tag = timm.models.split_model_name_tag(backbone)
    tags = [name.split(".", 1)[1] for name in timm.list_pretrained(f"{arch}.*")]
    if pretrained is True:
        tag = own_tag or (timm.models.get_pretrained_cfg(arch).tag if tags else "")
    else:
        tag = pretrained[len(arch) + 1 :] if pretrained.startswith(arch + ".") else pretrained
    if tag not in tags:
        have = f"its tags: {', '.join(tags)}" if tags else "timm has no pretrained weights for it"
        raise ConfigError(
            f"backbone {arch!r} has no pretrained weights {tag or '(default)'!r} ({have}); "
            "set pretrained=<tag>, pretrained=false, or weights_file=PATH"
        )
    return f"{arch}.{tag}"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- caches ---------------------------------------------------------------------------------------


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now (``HF_HUB_CACHE``, else
    ``HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub`` or ``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def torch_checkpoints_dir() -> Path:
    """Where ``torch.hub`` (and timm's url downloads) keep checkpoint files (``TORCH_HOME`` aware)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> str | None:
    """``"NAME=value"`` of the variable that switches downloads off, or None when online."""
    for name in OFFLINE_VARS:
        value = os.environ.get(name, "").strip()
        if value and value.lower() not in _FALSE:
            return f"{name}={value}"
    return None


def _hf_repo(cfg: dict[str, Any]) -> tuple[str, str | None, tuple[str, ...]] | None:
    """(repo id, revision, candidate file names) of a tag's hub weights, or None without any."""
    hub_id = cfg.get("hf_hub_id")
    if not hub_id:
        return None
    repo, _, revision = hub_id.partition("@")
    files = (cfg["hf_hub_filename"],) if cfg.get("hf_hub_filename") else HF_FILES
    return repo, revision or None, files


def _url_file(cfg: dict[str, Any]) -> Path | None:
    url = cfg.get("url")
    return torch_checkpoints_dir() / os.path.basename(url.split("?")[0]) if url else None


def cached_file(cfg: dict[str, Any]) -> Path | None:
    """The tag's weights file if either cache holds it, else None (nothing is downloaded)."""
    hub = _hf_repo(cfg)
    if hub is not None:
        from huggingface_hub import try_to_load_from_cache  # installed with timm

        repo, revision, files = hub
        for name in files:
            found = try_to_load_from_cache(repo, name, cache_dir=str(hf_cache_dir()), revision=revision)
            if isinstance(found, str) and os.path.isfile(found):  # not None, not "known missing"
                return Path(found)
    url_file = _url_file(cfg)
    return url_file if url_file is not None and url_file.is_file() else None


def _resolves(url: str) -> bool:
    """Whether ``url``'s host has an address: a machine without network fails here at once,
    instead of after the hub client's retries."""
    try:
        socket.getaddrinfo(urlparse(url).hostname or "", 443)
    except (OSError, UnicodeError):
        return False
    return True


def _download_hub(repo: str, revision: str | None, files: tuple[str, ...]) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

    for name in files:
        try:
            return Path(hf_hub_download(repo, name, revision=revision, cache_dir=str(hf_cache_dir())))
        except EntryNotFoundError as err:
            if isinstance(err, LocalEntryNotFoundError):  # not reachable, not "no such file"
                raise
    raise FileNotFoundError(f"hub repository {repo} has none of {', '.join(files)}")


def _download_url(url: str, target: Path) -> Path:
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(target), progress=False)
    return target


def download(cfg: dict[str, Any]) -> Path:
    """Fetch the tag's weights into the cache timm would use (the hub first, as timm does, then
    the tag's url)."""
    hub, url = _hf_repo(cfg), cfg.get("url")
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if hub is not None and _resolves(endpoint):
        return _download_hub(*hub)
    if url and _resolves(url):
        return _download_url(url, _url_file(cfg))
    hosts = [urlparse(u).hostname for u in ([endpoint] if hub else []) + ([url] if url else [])]
    raise ConnectionError(f"cannot resolve {' or '.join(map(str, hosts)) or 'a download address'}")


def missing_weights(name: str, reason: str) -> ConfigError:
    """The one-line error for weights that are neither cached nor downloadable."""
    return ConfigError(
        f"backbone weights {name} are not in the cache (Hugging Face hub cache {hf_cache_dir()}, torch hub "
        f"{torch_checkpoints_dir()}) and {reason}: pass weights_file=PATH (a timm state dict of "
        f"{name.split('.')[0]}), download them into one of those folders, or set pretrained=false"
    )


def locate(name: str) -> Path:
    """The weights file of timm name ``"<arch>.<tag>"``: cached, or downloaded when online."""
    cfg = timm.models.get_pretrained_cfg(name).to_dict()
    found = cached_file(cfg)
    if found is not None:
        return found
    switch = offline()
    if switch:
        raise missing_weights(name, f"downloads are switched off ({switch})")
    try:
        return download(cfg)
    except Exception as err:  # noqa: BLE001 - any failure to fetch ends in the same one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise missing_weights(name, f"the download failed ({type(err).__name__}: {first})") from err
