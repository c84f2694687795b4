"""LazyModule: the adapters' pandas is imported on first use, once, even from two threads at once."""

import sys
import threading

from gazebench.core.lazymodule import LazyModule


def test_imports_on_first_attribute_and_forwards(tmp_path, monkeypatch):
    (tmp_path / "slow_to_import.py").write_text(
        "import time\nLOADS = []\ntime.sleep(0.2)\nLOADS.append(1)\ndef double(x):\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import", raising=False)
    lazy = LazyModule("slow_to_import")
    assert "slow_to_import" not in sys.modules and "not imported" in repr(lazy)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.double(21))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 4
    assert sys.modules["slow_to_import"].LOADS == [1]  # one import, though four threads reached it together
    assert lazy.LOADS is sys.modules["slow_to_import"].LOADS and "imported" in repr(lazy)
