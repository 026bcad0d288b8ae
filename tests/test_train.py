import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import train_config
from edgeiqa.train.checkpoint import CheckpointError, load_checkpoint
from edgeiqa.train.data.records import DatasetError
from edgeiqa.train.trainer import Trainer, train
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def test_frozen_training_hits_the_cache_from_the_second_epoch(csv_dataset, tmp_path):
    res = train(train_config(csv_dataset, tmp_path / "run", regime="frozen"))
    hist = res.history
    first_misses = hist[0]["cache_misses"]
    assert first_misses > 0
    assert all(h["cache_misses"] == first_misses for h in hist[1:])  # nothing recomputed after epoch 1
    assert hist[-1]["cache_hits"] > hist[0]["cache_hits"]
    # A second run with the same backbone reads every embedding from disk.
    t = Trainer(train_config(csv_dataset, tmp_path / "run2", regime="frozen", epochs=1))
    t.run()
    assert t.cache.misses == 0 and t.cache.hits > 0


def test_lora_changes_only_adapters_in_the_backbone(csv_dataset, tmp_path):
    t = Trainer(train_config(csv_dataset, tmp_path / "run", regime="lora", epochs=2, lr=1e-2))
    before = {k: v.clone() for k, v in t.model.backbone.state_dict().items()}
    assert any("lora_" in k for k in before)
    t.run()
    after = t.model.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "nothing trained"
    assert all("lora_" in k for k in changed), sorted(changed - {k for k in changed if "lora_" in k})[:5]


def test_full_finetune_uses_its_own_backbone_lr(csv_dataset, tmp_path):
    t = Trainer(train_config(csv_dataset, tmp_path / "run", regime="full", backbone_lr=1e-5))
    lrs = sorted(g["lr"] for g in t.optimizer.param_groups)
    assert 1e-5 in lrs and 3e-3 in lrs


class _Kill(Exception):
    pass


def _kill_after_first_epoch(trainer, epoch, record):
    if epoch == 0:
        raise _Kill()


@pytest.mark.parametrize("regime", ["full", "frozen"])
def test_resume_after_a_kill_reaches_the_same_weights(csv_dataset, tmp_path, regime):
    head = "select" if regime == "frozen" else "gated"
    straight = train(train_config(csv_dataset, tmp_path / "a", regime=regime, head=head, epochs=4))
    with pytest.raises(_Kill):
        train(train_config(csv_dataset, tmp_path / "b", regime=regime, head=head, epochs=4),
              callbacks=[_kill_after_first_epoch])
    assert json.loads((tmp_path / "b/last/state.json").read_text())["epoch"] == 0
    resumed = train(train_config(csv_dataset, tmp_path / "b", regime=regime, head=head, epochs=4))
    assert resumed.epochs_run == 3
    a, b = load_file(str(tmp_path / "a/last/model.safetensors")), load_file(str(tmp_path / "b/last/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert straight.test["srcc"] == pytest.approx(resumed.test["srcc"], abs=1e-6)


def test_resume_refuses_changed_options(csv_dataset, tmp_path):
    with pytest.raises(_Kill):
        train(train_config(csv_dataset, tmp_path / "r", epochs=3), callbacks=[_kill_after_first_epoch])
    with pytest.raises(CheckpointError, match="head"):
        train(train_config(csv_dataset, tmp_path / "r", epochs=3, head="relu"))


def test_checkpoint_roundtrip_and_predict_cli(csv_dataset, tmp_path):
    res = train(train_config(csv_dataset, tmp_path / "run", epochs=2))
    cfg = json.loads((res.out / "config.json").read_text())
    for key in ("backbone", "head", "regime", "preprocess", "label_scale", "metrics", "weights_sha256"):
        assert key in cfg
    assert cfg["metrics"]["test"]["n"] == cfg["metrics"]["n_test"]
    model, _ = load_checkpoint(res.out)
    img = csv_dataset / "images" / "img_000.png"
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "predict", str(res.out), str(img), str(bad), "--json"],
                         capture_output=True, text=True, timeout=120)
    lines = [json.loads(x) for x in out.stdout.strip().splitlines()]
    assert out.returncode == 2, out.stderr
    assert lines[0]["path"] == str(img) and isinstance(lines[0]["score"], float)
    assert "error" in lines[1] and "cannot decode" in lines[1]["error"]
    # The CLI's score is the model's, mapped to the MOS scale.
    from edgeiqa.train.data.records import LabelScale

    pre = model.preprocess
    frame = torch.from_numpy(pre.load(img))[None]
    with torch.no_grad():
        expected = LabelScale.from_dict(cfg["label_scale"]).to_mos(float(model(frame)))
    assert lines[0]["score"] == pytest.approx(expected, abs=1e-4)


def test_corrupt_checkpoint_is_reported(csv_dataset, tmp_path):
    res = train(train_config(csv_dataset, tmp_path / "run", epochs=1))
    weights = res.out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_checkpoint(res.out)
    (res.out / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(res.out)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")


def test_unknown_backbone_in_a_config_file_fails_clearly(csv_dataset, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"dataset: csv\ndata_root: {csv_dataset}\ncsv: data.csv\nbackbone: resnet5O\nout: {tmp_path}/o\n")
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "train", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "unknown backbone 'resnet5O'" in out.stderr and "Traceback" not in out.stderr


def test_flags_override_the_config_file(tmp_path):
    import argparse

    from edgeiqa.train.config import add_config_arguments, config_from_args

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"head": "relu", "epochs": 7, "candidates": ["relu", "tanh"]}))
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    add_config_arguments(p)
    c = config_from_args(p.parse_args(["--config", str(cfg), "--epochs", "2", "--select-hard", "false"]))
    assert (c.head, c.epochs, c.candidates, c.select_hard) == ("relu", 2, ("relu", "tanh"), False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epocs": 3}))
    with pytest.raises(ValueError, match="unknown config keys: epocs"):
        config_from_args(p.parse_args(["--config", str(bad)]))


def test_training_with_missing_images_fails_before_the_first_step(csv_dataset, tmp_path):
    (csv_dataset / "images" / "img_003.png").unlink()
    with pytest.raises(DatasetError, match="missing      1"):
        Trainer(train_config(csv_dataset, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_train_help_lists_the_options():
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "train", "--help"], capture_output=True, text=True)
    for flag in ("--dataset", "--data-root", "--backbone", "--no-pretrained", "--regime", "--lora-r", "--out"):
        assert flag in out.stdout


def test_runtime_only_install_gets_an_install_hint(tmp_path):
    # Simulate a camera box: torch cannot be imported.
    code = ("import sys; sys.modules['torch'] = None; from edgeiqa.cli import main; "
            "raise SystemExit(main(['train', '--help']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert "pip install 'edgeiqa[train]'" in out.stderr and "Traceback" not in out.stderr


def test_two_process_torchrun_agrees_with_one_process(csv_dataset, tmp_path):
    args = ["train", "--dataset", "csv", "--data-root", str(csv_dataset), "--csv", "data.csv", "--backbone",
            "tiny-vit", "--head", "gated", "--hidden", "32", "--epochs", "3", "--batch-size", "8", "--lr", "3e-3",
            "--rank-weight", "0", "--regime", "frozen"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "edgeiqa", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          "29581", "-m", "edgeiqa", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    m1 = json.loads((tmp_path / "one/config.json").read_text())["metrics"]
    m2 = json.loads((tmp_path / "two/config.json").read_text())["metrics"]
    for split in ("val", "test"):
        for k in ("srcc", "plcc"):
            assert m1[split][k] == pytest.approx(m2[split][k], abs=1e-3), (split, k)
    w1, w2 = load_file(str(tmp_path / "one/model.safetensors")), load_file(str(tmp_path / "two/model.safetensors"))
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-4), k


def test_predict_with_a_checkpoint_naming_an_unknown_head_is_a_one_line_error(trained, tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained[1], ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["train"]["head"] = "no_such_head"
    (ckpt / "config.json").write_text(json.dumps(cfg))
    res = subprocess.run([sys.executable, "-m", "edgeiqa", "predict", str(ckpt), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "no_such_head" in res.stderr
