"""One cache root for everything edgeiqa can rebuild, moved by one variable."""

from __future__ import annotations

from pathlib import Path


def test_every_cache_follows_edgeiqa_cache(monkeypatch, tmp_path):
    from edgeiqa.export.tensorrt_build import default_timing_cache
    from edgeiqa.runtime.cache_root import cache_root
    from edgeiqa.train.embed_cache import default_cache_dir

    monkeypatch.setenv("EDGEIQA_CACHE", str(tmp_path))
    assert cache_root() == tmp_path and cache_root("a", "b") == tmp_path / "a" / "b"
    assert default_cache_dir() == tmp_path / "embeddings"
    assert default_timing_cache("10.3.0", "8.7") == tmp_path / "tensorrt" / "timing.trt10.3.0.sm87.cache"
    monkeypatch.delenv("EDGEIQA_CACHE")
    assert cache_root() == Path.home() / ".cache" / "edgeiqa"
