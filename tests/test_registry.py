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
