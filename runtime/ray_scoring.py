"""Score a photo collection that outgrows one machine, on a Ray cluster (Ray Data).

The collection becomes a Ray Dataset of paths; `map_batches` hands batches of paths to a pool of
actors, each holding ONE `Scorer` (loaded once, as `edgeiqa score` loads it once), which decodes
its batch with the Scorer's own threads and scores it. Ray spreads the actors over the cluster's
nodes and the batches over the actors. A file that cannot be read becomes a row with an error,
never a failed job. The driver streams result rows into one Parquet or JSON-lines file; paths
already in that file are skipped, so a killed job resumes where it stopped.

    edgeiqa score --ray --out scores.parquet photos/            # a local Ray instance
    edgeiqa score --ray --ray-address auto --out s.jsonl list.csv   # an existing cluster

Which path fits which job: `edgeiqa score` on one box; `--shard i/N` for an array job on a
scheduler (Slurm, Kubernetes jobs); this module on a Ray cluster; Triton for a serving endpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_SUFFIXES = (".parquet", ".csv")
ROW_COLUMNS = ("path", "score", "error", "category", "percentile", "reason")
CALL_BATCHES = 4  # model batches per actor call: decoding overlaps inference inside the call


def collect_paths(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Folders, image files and Parquet/CSV manifests (a `path` column, relative to the manifest's
    folder when not absolute) -> one sorted list of paths."""
    from edgeiqa.runtime.preprocess import find_images

    paths: list[str] = []
    plain: list[str | os.PathLike] = []
    for item in inputs:
        p = Path(item)
        if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
            paths += [str(x) for x in read_manifest(p)]
        else:
            plain.append(item)
    if plain:
        paths += [str(f) for f in find_images(list(plain))]
    return sorted(dict.fromkeys(paths))


def read_manifest(path: Path) -> list[Path]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(path) if path.suffix.lower() == ".parquet" else pacsv.read_csv(path)
    if "path" not in table.column_names:
        raise ValueError(f"{path} has no 'path' column (columns: {', '.join(table.column_names)})")
    return [Path(v) if Path(v).is_absolute() else path.parent / v for v in table.column("path").to_pylist()]


class ScoringActor:
    """One per Ray actor: the Scorer is loaded once, then scores every batch the actor is given."""

    def __init__(self, bundle: str = "default", precision: str | None = None, threads: int = 0,
                 batch_size: int = 16) -> None:
        from edgeiqa.runtime.scorer import Scorer

        self.scorer = Scorer.load(bundle, backend="onnxruntime", precision=precision, threads=threads)
        self.attributes = list(self.scorer.attribute_names)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A Ray batch holds several model batches, so the Scorer decodes the next one while the
        model runs on this one (as `edgeiqa score` does)."""
        paths = [str(p) for p in batch["path"]]
        return result_columns(self.scorer.score(paths, batch_size=self.batch_size), self.attributes)


def result_columns(results: Sequence[Any], attributes: Sequence[str]) -> dict[str, np.ndarray]:
    """ScoreResults -> typed columns (NaN / '' where a row has no value), one per attribute too."""
    cols: dict[str, list[Any]] = {c: [] for c in ROW_COLUMNS}
    cols.update({f"attr_{a}": [] for a in attributes})
    for r in results:
        cols["path"].append(r.source)
        cols["score"].append(r.score if r.ok else np.nan)
        cols["error"].append(r.error or "")
        cols["category"].append(r.category or "")
        cols["percentile"].append(r.percentile if r.percentile is not None else np.nan)
        cols["reason"].append(r.reason or "")
        for a in attributes:
            cols[f"attr_{a}"].append(r.attributes[a] if r.attributes else np.nan)
    return {k: np.asarray(v, dtype=object if k in ("path", "error", "category", "reason") else np.float64)
            for k, v in cols.items()}


def row_records(batch: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    """Typed columns -> the records `edgeiqa score --json` writes (absent values left out)."""
    attrs = [k for k in batch if k.startswith("attr_")]
    for i in range(len(batch["path"])):
        if batch["error"][i]:
            yield {"path": str(batch["path"][i]), "error": str(batch["error"][i])}
            continue
        rec: dict[str, Any] = {"path": str(batch["path"][i]), "score": float(batch["score"][i])}
        if batch["category"][i]:
            rec["category"] = str(batch["category"][i])
        if not np.isnan(batch["percentile"][i]):
            rec["percentile"] = float(batch["percentile"][i])
        if attrs:
            rec["attributes"] = {k[5:]: float(batch[k][i]) for k in attrs}
        if batch["reason"][i]:
            rec["reason"] = str(batch["reason"][i])
        yield rec


class ResultSink:
    """Parquet or JSON lines, resumable by path.

    JSON lines are appended and flushed row by row. Parquet cannot be appended to, so the rows
    already there are copied into a new file next to it, the new rows streamed after them, and
    the new file replaces the old one only when the job ends: a killed job leaves the old file
    whole.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.parquet = out.suffix.lower() == ".parquet"
        if not self.parquet and out.suffix.lower() not in (".jsonl", ".json"):
            raise ValueError(f"--out must end in .parquet or .jsonl, got {out.name}")
        self.done: set[str] = set()
        self._writer: Any = None
        self._fh: Any = None
        self._old: Any = None
        if out.is_file():
            if self.parquet:
                import pyarrow.parquet as pq

                self._old = pq.read_table(out)
                self.done = set(self._old.column("path").to_pylist())
            else:
                from edgeiqa.runtime.results_file import already_scored

                self.done = set(already_scored(out))

    def write(self, batch: dict[str, np.ndarray]) -> None:
        if self.parquet:
            self._write_parquet(batch)
            return
        if self._fh is None:
            from edgeiqa.runtime.results_file import ends_with_newline

            self.out.parent.mkdir(parents=True, exist_ok=True)
            torn = self.out.is_file() and not ends_with_newline(self.out)
            self._fh = open(self.out, "a")
            if torn:  # a killed run's torn last line must not swallow the next record
                self._fh.write("\n")
        for rec in row_records(batch):
            self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()

    def _write_parquet(self, batch: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: pa.array(list(v), type=pa.string() if v.dtype == object else pa.float64())
                          for k, v in batch.items()})
        if self._writer is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.out.with_name(self.out.name + ".partial")
            schema = table.schema if self._old is None else self._old.schema
            self._writer = pq.ParquetWriter(self._tmp, schema)
            if self._old is not None:
                self._writer.write_table(self._old)
        self._writer.write_table(table.select(self._writer.schema.names).cast(self._writer.schema))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._writer is not None:
            self._writer.close()
            os.replace(self._tmp, self.out)


def score_with_ray(inputs: Sequence[str | os.PathLike], out: str | Path, bundle: str = "default",
                   address: str | None = None, actors: int | None = None, batch_size: int = 16,
                   precision: str | None = None, threads_per_actor: int = 0, progress: bool = True
                   ) -> dict[str, int]:
    """Score every image under `inputs` on Ray; returns counts {scored, failed, skipped}."""
    import ray

    paths = collect_paths(inputs)
    sink = ResultSink(Path(out))
    todo = [p for p in paths if p not in sink.done]
    counts = {"scored": 0, "failed": 0, "skipped": len(paths) - len(todo)}
    if not todo:
        return counts
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    try:
        # Each actor's ONNX Runtime gets `threads` cores (intra-op) and reserves as many Ray CPUs, so
        # actors never oversubscribe a node: 4 threads each by default (1 actor on a 2-core box).
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = threads_per_actor or min(4, cpus)
        n_actors = actors or max(1, cpus // threads)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        per_call = batch_size * CALL_BATCHES
        ds = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=max(1, len(todo) // per_call))
        scored = ds.map_batches(ScoringActor, batch_size=per_call, batch_format="numpy",
                                compute=ray.data.ActorPoolStrategy(size=n_actors), num_cpus=threads,
                                fn_constructor_kwargs={"bundle": str(bundle), "precision": precision,
                                                       "threads": threads, "batch_size": batch_size})
        try:
            for batch in scored.iter_batches(batch_size=batch_size, batch_format="numpy"):
                sink.write(batch)
                failed = int(sum(1 for e in batch["error"] if e))
                counts["failed"] += failed
                counts["scored"] += len(batch["path"]) - failed
        finally:
            sink.close()
    finally:
        if started:
            ray.shutdown()
    return counts
