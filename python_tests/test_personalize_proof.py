"""The rest of issue 4's proof list: streaming statistics, what the file and the
report record, and `qasr eval` on a `.qasr` through the C++ core with a TSV manifest."""

import gc
import json
import os
import warnings
import weakref

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _personalize_model import TOKENIZER, tiny_adapter, tiny_model  # noqa: E402
from qasr_native.cli import main  # noqa: E402
from qasr_native.data.demo import demo_clips_dir, demo_manifest_path  # noqa: E402
from qasr_native.data.manifest import read_manifest  # noqa: E402
from qasr_native.export.qasr_file import read_qasr  # noqa: E402
from qasr_native.personalize.clips import ClipSet  # noqa: E402
from qasr_native.personalize.pipeline import personalize  # noqa: E402
from qasr_native.personalize.report import write_report  # noqa: E402
from qasr_native.personalize.sensitivity import measure  # noqa: E402
from qasr_native.personalize.widths import parse_widths  # noqa: E402

torch.set_num_threads(1)
CANDS = parse_widths("4,8")


@pytest.fixture(scope="module")
def adapter():
    return tiny_adapter()


class _WatchedClips:
    """Clips (the demo clips, repeated) that record which earlier clips are still alive when the next is asked for."""

    def __init__(self, n):
        base = list(ClipSet(demo_clips_dir()))
        self.clips = [base[i % len(base)] for i in range(n)]
        self.alive_behind = []

    def __len__(self):
        return len(self.clips)

    def __iter__(self):
        refs = []
        for c in self.clips:
            gc.collect()
            # the caller may still hold the previous clip; anything older must be gone
            self.alive_behind.append(sum(r() is not None for r in refs[:-1]))
            clip = type(c)(c.path, c.audio.copy())
            refs.append(weakref.ref(clip.audio))
            yield clip
            del clip


def _live_tensor_bytes(params):
    """Bytes of every live torch tensor's storage other than the model's parameters."""
    seen, total = set(), 0
    with warnings.catch_warnings():  # isinstance() on every live object touches deprecated torch aliases
        warnings.simplefilter("ignore")
        objs = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
    for o in objs:
        if id(o) not in params:
            try:
                st = o.untyped_storage()
            except (RuntimeError, NotImplementedError):
                continue
            if st.data_ptr() not in seen:
                seen.add(st.data_ptr())
                total += st.nbytes()
    return total


@pytest.mark.parametrize("method", ["median", "distortion", "fisher"])
def test_statistics_stream_clips_and_keep_no_activations(adapter, method):
    outputs, live = [], []
    params = {id(p) for p in adapter.model.parameters()}
    last = adapter.layers()[-1].name

    def watch(mod, args, out):
        outputs.append(weakref.ref(out))
        outputs.append(weakref.ref(args[0]))

    def count(mod, args, out):  # at the end of each clip's forward pass: what is alive now
        gc.collect()
        live.append(_live_tensor_bytes(params))

    handles = [adapter.module(l.name).register_forward_hook(watch) for l in adapter.layers()]
    handles.append(adapter.module(last).register_forward_hook(count))
    clips = _WatchedClips(8)
    try:
        s = measure(adapter, clips, method, CANDS, hessians=(method == "distortion"), progress=None)
    finally:
        for h in handles:
            h.remove()
    gc.collect()
    assert s.clips == 8 and len(outputs) >= 8 * 2 * len(adapter.layers())
    assert max(clips.alive_behind) == 0  # one clip at a time
    assert sum(r() is not None for r in outputs) == 0  # no layer input or output outlives its forward pass
    # memory does not grow with the clips seen: the 8 demo-clip passes (4 clips twice) hold what the first 4 held
    # (prepare() and the measured pass both run the head, so every clip adds two readings)
    n = len(live) // 2
    assert n >= 4 and max(live[n:]) <= max(live[:n]) * 1.05 + 65536, live
    # what is kept is fixed-size: K x K moments per layer, numbers per (layer, width)
    for l in adapter.layers():
        if method == "distortion":
            assert s.hessians[l.name].shape == (l.shape[1], l.shape[1])
            assert s.hessian_rows[l.name] > 0
            assert set(s.rel_mse[l.name]) == {"q8/0", "q4/32"}


def test_file_and_report_record_method_clips_timings_memory_and_plots(adapter, tmp_path):
    out = tmp_path / "u.qasr"
    report = personalize(adapter, ClipSet(demo_clips_dir()), "0.4x", out, sensitivity="distortion",
                         allocation="knapsack", calibration="cosine", progress=False)
    h = read_qasr(out).header
    assert h["quantization"]["activation_clipping"] == "none"
    assert h["quantization"]["calibration"] == "cosine"
    prov = h["provenance"]
    assert prov["method"] == "knapsack+distortion+cosine" == report["method"]
    assert prov["predicted_size"] == prov["actual_size"] == os.path.getsize(out) <= prov["budget_bytes"]
    assert prov["calibration"]["clips"] == 4 and prov["calibration"]["source"] == str(demo_clips_dir())
    assert prov["source_model"] == adapter.source and prov["tool_version"]
    for stage in ("sensitivity", "allocation", "calibration", "write", "total"):
        assert report["timings_s"][stage] >= 0
    assert report["timings_s"]["total"] >= report["timings_s"]["sensitivity"]
    assert report["peak_rss_mb"] > 0
    points = [{"label": "float32", "size": report["float_size"], "wer": 10.0, "cer": 5.0},
              {"label": "personalized", "size": report["actual_size"], "wer": 12.0, "cer": 6.0}]
    d = write_report(report, tmp_path / "rep", points)
    for png in ("bits_per_layer.png", "sensitivity_per_layer.png", "size_breakdown.png", "wer_vs_size.png"):
        assert (d / png).stat().st_size > 0
    md = (d / "report.md").read_text()
    assert "knapsack+distortion+cosine" in md and "time (s)" in md and "peak RSS" in md
    assert json.loads((d / "report.json").read_text())["actual_size"] == os.path.getsize(out)


def test_eval_runs_qasr_files_in_the_core_from_a_tsv_manifest(tmp_path):
    m = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, ckpt)
    q = tmp_path / "tiny4.qasr"
    assert main(["pack", str(ckpt), "--precision", "int4", "-o", str(q)]) == 0
    entries = read_manifest(demo_manifest_path())
    tsv = tmp_path / "test.tsv"
    tsv.write_text("path\ttext\tspeaker\n" + "".join(
        f"{e.path}\t{e.text}\t{'a' if i % 2 else 'b'}\n" for i, e in enumerate(entries)))
    out = tmp_path / "eval.json"
    assert main(["eval", str(q), str(ckpt), "--manifest", str(tsv), "--json", str(out), "--quiet"]) == 0
    res = json.loads(out.read_text())
    assert res["utterances"] == len(entries)
    assert res["models"][str(q)]["kind"] == "core" and res["models"][str(ckpt)]["kind"] == "torch-float"
    assert set(res["models"][str(q)]["per_speaker"]) == {"a", "b"}
