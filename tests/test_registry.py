import pytest

from gazebench.core.registry import Registry, RegistryError


def test_register_lookup_alias_and_description():
    reg = Registry("widget")

    @reg.register("alpha", "a")
    def alpha():
        """The first widget.

        More text."""

    assert reg.get("alpha") is alpha
    assert reg.get("a") is alpha
    assert reg.entry("alpha").description == "The first widget."
    assert "alpha" in reg and reg.names() == ["alpha"]


def test_duplicates_raise_with_both_origins():
    reg = Registry("widget")
    reg.register("alpha")(lambda: None)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("alpha")(lambda: None)


def test_unknown_name_suggests_close_matches_and_lists_all():
    reg = Registry("model")
    for name in ("static", "staticsc", "seqlstm"):
        reg.register(name)(lambda: None)
    with pytest.raises(RegistryError) as err:
        reg.get("statc")
    text = str(err.value)
    assert "Did you mean 'static'" in text
    assert "Known models: seqlstm, static, staticsc" in text


def test_a_lookup_miss_imports_the_registrys_builtins_first():
    """model_catalog asks MODELS about a name without importing gazebench.models (it sits below it):
    the registry imports its ``builtins`` module on the first miss, so the built-in models are there."""
    import subprocess
    import sys

    code = (
        "import sys; from gazebench.core.registry import MODELS; "
        "assert 'gazebench.models' not in sys.modules; "
        "print(MODELS.entry('static').name, 'gazebench.models' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["static", "True"]
