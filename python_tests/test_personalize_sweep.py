"""A budget sweep measures sensitivity once: personalize(sens=measure_for(...))
must write the same file as personalize() measuring on its own."""

import pytest

torch = pytest.importorskip("torch")

from _personalize_model import tiny_adapter  # noqa: E402
from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.personalize.clips import ClipSet  # noqa: E402
from qasr_native.personalize.pipeline import measure_for, personalize  # noqa: E402

torch.set_num_threads(1)


def test_precomputed_sensitivity_gives_the_same_files(tmp_path):
    adapter = tiny_adapter()
    clips = ClipSet(demo_clips_dir())
    sens = measure_for(adapter, clips, progress=False)
    float_size = adapter.float_size()
    sizes = set()
    for frac in (0.3, 0.5):
        budget = int(frac * float_size)
        a = personalize(adapter, clips, budget, tmp_path / f"own_{frac}.qasr", progress=False)
        b = personalize(adapter, clips, budget, tmp_path / f"shared_{frac}.qasr", progress=False, sens=sens)
        assert (tmp_path / f"own_{frac}.qasr").read_bytes() == (tmp_path / f"shared_{frac}.qasr").read_bytes()
        assert a["layers"] == b["layers"] and "sensitivity" not in b["timings_s"]
        sizes.add(b["actual_size"])
    assert len(sizes) == 2  # the two budgets gave different files (the sweep is not vacuous)
