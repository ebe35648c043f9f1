"""`LazyModule`: the real module is imported on first use, and each name read once."""

from __future__ import annotations

import sys
import threading

from bluecurrent_sync._lazy import LazyModule


def test_the_module_is_imported_on_first_use_and_each_name_kept() -> None:
    name = "json.tool"  # a stdlib module nothing here imports at start-up
    sys.modules.pop(name, None)
    lazy = LazyModule(name)
    assert name not in sys.modules and "not imported yet" in repr(lazy)
    main = lazy.main
    assert name in sys.modules and main is sys.modules[name].main
    assert "main" in vars(lazy)  # kept: the next read does not go through the module
    assert lazy.main is main and "imported" in repr(lazy)


def test_threads_reading_at_once_import_once() -> None:
    lazy = LazyModule("colorsys")
    seen: list[object] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait(30)
        seen.append(lazy.rgb_to_hsv)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 8 and all(value is seen[0] for value in seen)
