"""The .qasr file: the Python writer against the C++ reader (and the Python
reader), the exact size model, and every kind of damage a file can suffer."""

import json
import os
import struct
import zlib

import numpy as np
import pytest

from qasr_native import _core, quant
from qasr_native.export import qasr_file as qf
from qasr_native.export import QasrWriter, SizeModel, TensorSpec, predict_file_size, read_qasr, read_qasr_bytes

FORMATS_GROUPS = [("q8", 0), ("q8", 32), ("q8", 64), ("q8", 128), ("q4", 32), ("q4", 64), ("q4", 128),
                  ("q4a", 32), ("q4a", 64), ("q4a", 128)]


def both_readers(path_or_bytes, verify=True):
    """Opens with the C++ and the Python reader; returns (cc, py)."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return (_core.QasrFile.from_bytes(bytes(path_or_bytes), verify_checksums=verify),
                read_qasr_bytes(bytes(path_or_bytes), verify=verify))
    return _core.QasrFile(str(path_or_bytes), verify_checksums=verify), read_qasr(path_or_bytes, verify=verify)


def expect_error(data, *fragments, verify=True):
    """Both readers reject the image with a ValueError containing every fragment."""
    msgs = []
    with pytest.raises(ValueError) as e:
        _core.QasrFile.from_bytes(bytes(data), verify_checksums=verify)
    msgs.append(str(e.value))
    with pytest.raises(ValueError) as e:
        read_qasr_bytes(bytes(data), verify=verify)
    msgs.append(str(e.value))
    for m in msgs:
        assert m.startswith("<memory>: "), m
        for frag in fragments:
            assert frag in m, (frag, m)
    return msgs


def sample_writer(rng, n=33, k=70):
    w = QasrWriter(model={"family": "test", "d_model": 4, "blocks": [1, 2]},
                   frontend={"kind": "kaldi_fbank", "mel_bins": 80},
                   tokenizer={"kind": "chars", "vocab": ["<b>", "a", "é", "日本", "\U0001F600", "\"\\\n"]},
                   provenance={"source_model": "unit-test", "budget_bytes": 12_000_000})
    W = rng.standard_normal((n, k)).astype(np.float32)
    w.add_matrix("w.f32", W)
    for fmt, g in FORMATS_GROUPS:
        w.add_matrix(f"w.{fmt}.{g}", quant.quantize_weight(W, fmt, g))
    w.add_array("b.f32", rng.standard_normal(n).astype(np.float32))
    w.add_array("b.f16", rng.standard_normal((2, 3)).astype(np.float16))
    w.add_array("ids.i32", np.arange(-5, 6, dtype=np.int32).reshape(11, 1, 1))
    w.add_array("blob.u8", rng.integers(0, 256, 13).astype(np.uint8))
    w.add_array("scalar", np.float32(3.5))
    w.add_array("empty", np.zeros((0, 3), np.float32))
    return w, W


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    rng = np.random.default_rng(1)
    w, W = sample_writer(rng)
    path = tmp_path_factory.mktemp("qasr") / "sample.qasr"
    predicted = w.predicted_size()
    size = w.write(path)
    return path, w, W, predicted, size


def test_prediction_equals_size(sample):
    path, w, _, predicted, size = sample
    assert predicted == size == os.path.getsize(path)
    assert w.size_breakdown().file_size == size


def test_cpp_reads_python_file(sample):
    path, w, W, _, size = sample
    f = _core.QasrFile(str(path))
    assert f.file_size == size and f.version == (1, 0)
    assert f.names == [s.name for s in w.specs]
    hdr = f.header
    assert hdr["format_version"] == "1.0"
    assert hdr["model"] == {"family": "test", "d_model": 4, "blocks": [1, 2]}
    assert hdr["tokenizer"]["vocab"][4] == "\U0001F600"
    assert hdr["provenance"]["actual_size"] == size == hdr["provenance"]["predicted_size"]
    assert hdr["provenance"]["budget_bytes"] == 12_000_000
    # plain tensors: values equal, zero-copy read-only views
    for name, _ in [("b.f32", None), ("b.f16", None), ("ids.i32", None), ("blob.u8", None)]:
        src = w._data[w.specs.index(next(s for s in w.specs if s.name == name))][0]
        a = f.array(name)
        assert a.dtype == src.dtype and a.shape == src.shape
        np.testing.assert_array_equal(a, src)
        assert not a.flags.writeable
    assert f.array("scalar").shape == () and f.array("scalar")[()] == np.float32(3.5)
    assert f.array("empty").shape == (0, 3)
    # packed matrices: codes and scales equal, and linear() equals packing directly
    x = np.random.default_rng(2).standard_normal((5, W.shape[1])).astype(np.float32)
    for fmt, g in FORMATS_GROUPS:
        name = f"w.{fmt}.{g}"
        m = f.matrix(name)
        q = quant.quantize_weight(W, fmt, g)
        got = m.unpack()
        np.testing.assert_array_equal(got["codes"], q.codes)
        np.testing.assert_array_equal(got["scales"], q.scales.view(np.uint16))
        if fmt == "q4a":
            np.testing.assert_array_equal(got["zeros"], q.zeros)
        direct = _core.pack(W, fmt, g)
        assert m.tobytes() == direct.tobytes()
        np.testing.assert_array_equal(_core.linear(m, x), _core.linear(direct, x))
    m = f.matrix("w.f32")
    np.testing.assert_array_equal(m.unpack()["weights"], W)
    np.testing.assert_array_equal(_core.linear(m, x), _core.linear(_core.pack(W, "f32"), x))


def test_views_keep_the_file_alive(sample):
    path = sample[0]
    f = _core.QasrFile(str(path))
    a = f.array("b.f32")
    m = f.matrix("w.q4.32")
    expected = a.copy()
    del f
    import gc

    gc.collect()
    np.testing.assert_array_equal(a, expected)
    assert m.nbytes == quant.layout("q4", 33, 70, 32).total_bytes
    _core.linear(m, np.ones((1, 70), np.float32))


def test_python_reader_reads_the_same(sample):
    path, w, W, _, size = sample
    c = read_qasr(path)
    f = _core.QasrFile(str(path))
    assert c.file_size == size and c.header == f.header
    for entry, t in zip(c.entries, f.tensors):
        assert entry.name == t["name"] and entry.offset == t["offset"] and entry.nbytes == t["nbytes"]
        assert f"{entry.crc32:08x}" == t["crc32"]
    for fmt, g in FORMATS_GROUPS:
        q = c.matrix(f"w.{fmt}.{g}")
        ref = quant.quantize_weight(W, fmt, g)
        np.testing.assert_array_equal(q.codes, ref.codes)
        np.testing.assert_array_equal(q.scales, ref.scales)
        assert q.group == g and q.format == fmt
    np.testing.assert_array_equal(c.matrix("w.f32"), W)
    np.testing.assert_array_equal(c.array("ids.i32"), f.array("ids.i32"))
    bd = c.breakdown()
    assert sum(bd.parts().values()) == size
    assert bd.zeros == sum(quant.layout("q4a", 33, 70, g).zeros_bytes for g in (32, 64, 128))
    assert bd.scales == sum(quant.layout(f, 33, 70, g).scales_bytes for f, g in FORMATS_GROUPS)


def test_wrong_accessors_name_the_tensor(sample):
    f = _core.QasrFile(str(sample[0]))
    with pytest.raises(ValueError, match="tensor 'nope' is missing"):
        f.array("nope")
    with pytest.raises(ValueError, match="'w.q8.0' is a packed q8 matrix"):
        f.array("w.q8.0")
    with pytest.raises(ValueError, match="'b.f32' is f32 \\[33\\], expected a packed matrix"):
        f.matrix("b.f32")
    with pytest.raises(ValueError, match="tensor 'nope' is missing"):
        read_qasr(sample[0]).matrix("nope")


def test_crc32_matches_zlib():
    rng = np.random.default_rng(3)
    for n in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4097]:
        b = rng.integers(0, 256, n).astype(np.uint8).tobytes()
        assert _core.crc32(b) == zlib.crc32(b)
        assert _core.crc32(b[n // 3:], _core.crc32(b[: n // 3])) == zlib.crc32(b)
    assert _core.crc32(b"123456789") == 0xCBF43926
    a = np.arange(100, dtype=np.float32)
    assert _core.crc32(a) == zlib.crc32(a.tobytes())
    with pytest.raises(ValueError, match="contiguous"):
        _core.crc32(a[::2])


# ---------------------------------------------------------------------------
# The size model


def random_header(rng, i):
    words = ["a", "ü", "日本語", "\U0001F600", "\\", "\"", "\n", "x" * int(rng.integers(0, 300))]
    hdr = {"model": {"family": "f" * int(rng.integers(1, 20)), "n": int(rng.integers(-10**12, 10**12)),
                     "x": float(rng.standard_normal()), "l": [int(v) for v in rng.integers(0, 99, int(rng.integers(0, 20)))]},
           "tokenizer": {"pieces": [str(rng.choice(words)) for _ in range(int(rng.integers(0, 40)))]}}
    if i % 2:
        hdr["provenance"] = {"predicted_size": int(rng.integers(0, 10**9)), "calibration": {"clips": 3, "seconds": 1.5}}
    if i % 3 == 0:
        hdr["extra_section"] = {"k": None, "t": True}
    return hdr


def random_specs_and_data(rng):
    specs, data = [], []
    for t in range(int(rng.integers(0, 10))):
        kind = rng.integers(0, 3)
        if kind == 0:
            dt = str(rng.choice(list(qf.DTYPES)))
            shape = tuple(int(v) for v in rng.integers(0, 9, int(rng.integers(0, 4))))
            a = (rng.standard_normal(shape) * 10).astype(qf.DTYPES[dt])
            data.append(("array", a))
        else:
            fmt, g = FORMATS_GROUPS[int(rng.integers(0, len(FORMATS_GROUPS)))] if kind == 1 else ("f32", 0)
            N, K = int(rng.integers(1, 40)), int(rng.integers(1, 200))
            data.append(("matrix", rng.standard_normal((N, K)).astype(np.float32), fmt, g))
        specs.append(t)
    return data


def test_prediction_equals_getsize_for_random_content(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "r.qasr"
    for i in range(60):
        w = QasrWriter(**random_header(rng, i))
        for j, d in enumerate(random_specs_and_data(rng)):
            if d[0] == "array":
                w.add_array(f"t{j}.{'é' * (j % 3)}", d[1])
            else:
                w.add_matrix(f"m{j}", d[1], d[2] if d[2] != "f32" else None, d[3])
        predicted = w.predicted_size()
        # the same prediction from specs alone, before any packing
        assert predict_file_size(w.header, w.specs) == predicted
        size = w.write(path)
        assert size == predicted == os.path.getsize(path)
        cc, py = both_readers(path)
        assert cc.header["provenance"]["actual_size"] == size
        assert py.breakdown().file_size == size and sum(py.breakdown().parts().values()) == size


def test_prediction_across_digit_boundaries(tmp_path):
    """actual_size refers to its own file: sizes that cross 10^k must still be exact."""
    path = tmp_path / "d.qasr"
    hdr = {"model": {"family": "t"}}
    for target in (10**4, 10**5):
        base = predict_file_size(hdr, [TensorSpec("pad", (0,), dtype="u8")])
        for n in range(target - base - 200, target - base + 200, 7):
            w = QasrWriter(**hdr)
            w.add_array("pad", np.zeros(n, np.uint8))
            assert w.write(path) == w.predicted_size() == os.path.getsize(path)
            assert read_qasr(path).header["provenance"]["actual_size"] == os.path.getsize(path)


def test_size_model_prices_specs_without_data():
    hdr = {"model": {"family": "t"}}
    model = SizeModel(hdr)
    specs = [TensorSpec(f"l{i}", (256, 1024), format="q4", group=32) for i in range(100)]
    size = model.file_size(specs)
    expected_data = sum(qf.align64(quant.matrix_nbytes("q4", 256, 1024, 32)) for _ in range(99)) + \
        quant.matrix_nbytes("q4", 256, 1024, 32)
    plan = model.plan(specs)
    assert size == plan.data_offset + expected_data
    assert quant.matrix_nbytes("q8", 17, 33, 0) == quant.layout("q8", 17, 33, 0).total_bytes


def test_fast_table_text_equals_json_dumps():
    specs = [TensorSpec("a", (3, 4), dtype="f16"), TensorSpec("é \"q\" \\ \n 😀", (), dtype="u8"),
             TensorSpec("m", (17, 33), format="q4a", group=64), TensorSpec("f", (np.int64(2), 5), format="f32"),
             TensorSpec("z", (0, 1, 2), dtype="i32")]
    sizes = [s.nbytes for s in specs]
    offsets, _ = qf._placement(sizes)
    crcs = ["0123abcd"] * len(specs)
    assert qf._table_text(specs, offsets, sizes, crcs) == qf._dumps([s.entry(o, c) for s, o, c in zip(specs, offsets, crcs)])


def test_writer_rejects_bad_input(tmp_path):
    w = QasrWriter(model={"family": "t"})
    w.add_array("a", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="added twice"):
        w.add_array("a", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="cannot be stored"):
        w.add_array("f64", np.zeros(3))
    with pytest.raises(ValueError, match="name"):
        w.add_array("", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="name"):
        w.add_array("a\0b", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="do not fit"):
        w.add_array("big", np.array([300]), dtype="u8")
    with pytest.raises(ValueError, match="more than 8"):
        w.add_array("nd", np.zeros((1,) * 9, np.float32))
    q = quant.quantize_weight(np.ones((4, 32), np.float32), "q4a", 32)
    q.zeros[0, 0] = 16
    with pytest.raises(ValueError, match="zero points"):
        w.add_matrix("z", q)
    q = quant.quantize_weight(np.ones((4, 32), np.float32), "q8", 32)
    q.scales[1, 0] = np.float16(np.inf)
    with pytest.raises(ValueError, match="finite"):
        w.add_matrix("s", q)
    with pytest.raises(ValueError, match="group"):
        w.add_matrix("g", np.ones((4, 32), np.float32), "q4", 48)
    for bad in [{"model": {}}, {}, {"model": {"family": "t"}, "tensors": []},
                {"model": {"family": "t", "x": float("nan")}}, {"model": {"family": "t", "n": 2**70}},
                {"model": {"family": "t", "deep": json.loads("[" * 70 + "]" * 70)}},
                {"model": {"family": "t"}, "provenance": {"deep": json.loads("[" * 63 + "]" * 63)}},
                {"model": {"family": "t"}, "frontend": [1]}, {"model": {"family": "t", 1: 2, "1": 3}}]:
        with pytest.raises(ValueError):
            predict_file_size(bad, [])
    assert not list(tmp_path.iterdir())


def test_header_limits_match_the_cpp_reader(tmp_path):
    """The deepest header the writer accepts is one the C++ reader reads."""
    w = QasrWriter(model={"family": "t"}, provenance={"deep": json.loads("[" * 62 + "]" * 62)})
    w.write(tmp_path / "deep.qasr")
    both_readers(tmp_path / "deep.qasr")


def test_write_is_atomic_on_failure(tmp_path):
    w = QasrWriter(model={"family": "t"})
    w.add_array("a", np.zeros(3, np.float32))
    w._data[0] = (np.zeros(4, np.float32), np.dtype("<f4"))  # inconsistent with the spec: a writer bug
    with pytest.raises(RuntimeError):
        w.write(tmp_path / "x.qasr")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# Damaged files


def build(header, data=b"", *, major=1, minor=0, flags=0, text=None, file_size=None, data_offset=None):
    """A file image with a consistent preamble for any header (dict or raw text) and data bytes."""
    if text is None:
        text = json.dumps(header, separators=(",", ":")).encode()
    off = qf.align64(48 + len(text)) if data_offset is None else data_offset
    total = qf.align64(48 + len(text)) + len(data) if file_size is None else file_size
    pre = struct.pack("<8sHHIQQQI", qf.MAGIC, major, minor, flags, len(text), off, total, zlib.crc32(text))
    pre += struct.pack("<I", zlib.crc32(pre))
    body = pre + text
    return body + b"\0" * (qf.align64(len(body)) - len(body)) + data


def small_file():
    """A valid image with two tensors: (bytes, header dict, data bytes)."""
    a = np.arange(10, dtype=np.float32).tobytes()
    q = quant.quantize_weight(np.random.default_rng(5).standard_normal((20, 40)).astype(np.float32), "q4a", 32)
    m = quant.pack(q)
    data = a + b"\0" * (qf.align64(len(a)) - len(a)) + m
    hdr = {"format_version": "1.0", "model": {"family": "t"}, "tensors": [
        {"name": "a", "shape": [10], "dtype": "f32", "offset": 0, "nbytes": 40, "crc32": f"{zlib.crc32(a):08x}"},
        {"name": "m", "shape": [20, 40], "packed": {"format": "q4a", "group": 32}, "offset": 64,
         "nbytes": len(m), "crc32": f"{zlib.crc32(m):08x}"}]}
    return build(hdr, data), hdr, data


def with_tensor(hdr, i, **changes):
    h = json.loads(json.dumps(hdr))
    for k, v in changes.items():
        if v is None:
            h["tensors"][i].pop(k, None)
        else:
            h["tensors"][i][k] = v
    return h


def test_small_file_is_valid():
    img, _, _ = small_file()
    cc, py = both_readers(img)
    assert cc.names == py.names == ["a", "m"]


def test_missing_and_unreadable_files(tmp_path):
    for path, frag in [(tmp_path / "none.qasr", "cannot open"), (tmp_path, "")]:
        with pytest.raises(ValueError, match=str(path)):
            _core.QasrFile(str(path))
        with pytest.raises(ValueError, match=str(path)):
            read_qasr(path)
    empty = tmp_path / "empty.qasr"
    empty.write_bytes(b"")
    for opener in (lambda p: _core.QasrFile(str(p)), read_qasr):
        with pytest.raises(ValueError, match="file is empty"):
            opener(empty)


def test_truncated_everywhere(tmp_path):
    img, _, _ = small_file()
    for n in list(range(1, 64)) + list(range(64, len(img), 37)) + [len(img) - 1]:
        msgs = expect_error(img[:n])
        for m in msgs:
            assert ("truncated" in m) or ("bad magic" in m and n < 8), m
    path = tmp_path / "t.qasr"
    path.write_bytes(img[:100])
    with pytest.raises(ValueError, match="t.qasr: file is truncated"):
        _core.QasrFile(str(path))


def test_trailing_bytes():
    img, _, _ = small_file()
    expect_error(img + b"\0", "1 unexpected bytes after its end")


def test_every_flipped_byte_is_caught():
    img, _, data = small_file()
    data_start = len(img) - len(data)
    for pos in range(0, len(img), 5):
        bad = bytearray(img)
        bad[pos] ^= 0x20
        msgs = expect_error(bad)
        if pos >= data_start:
            assert all(("checksum mismatch" in m and "tensor '" in m) or "padding between tensors" in m
                       for m in msgs), msgs


def test_checksums_can_be_skipped():
    img, _, data = small_file()
    bad = bytearray(img)
    bad[len(img) - len(data) + 3] ^= 1  # inside tensor 'a'
    expect_error(bad, "tensor 'a': checksum mismatch")
    cc, py = both_readers(bytes(bad), verify=False)
    assert cc.array("a")[0] != 0.0 and py.array("a")[0] != 0.0


def test_magic_version_flags():
    img, hdr, data = small_file()
    expect_error(b"GGUF" + img[4:], "not a .qasr file (bad magic)")
    expect_error(build(hdr, data, major=2, minor=3), "format version 2.3 is newer than this reader supports (1.x)")
    expect_error(build(hdr, data, major=0), "invalid format version 0.0")
    expect_error(build(hdr, data, flags=1 << 20), "flags 0x00100000")
    # a newer minor version and compatible flags are read
    h = dict(hdr, format_version="1.7", future_section={"x": 1})
    both_readers(build(h, data, minor=7, flags=1))
    expect_error(build(h, data), "format_version '1.7' differs from the preamble's 1.0")


def test_preamble_fields():
    img, hdr, data = small_file()
    text = json.dumps(hdr, separators=(",", ":")).encode()
    expect_error(build(hdr, data, data_offset=qf.align64(48 + len(text)) + 64), "data offset")
    expect_error(build(hdr, data, text=b'{"a":'), "header JSON")
    bad = bytearray(img)
    struct.pack_into("<Q", bad, 16, 10**15)
    struct.pack_into("<I", bad, 44, zlib.crc32(bytes(bad[:44])))
    expect_error(bad, "header size 1000000000000000 is invalid")
    bad = bytearray(img)
    bad[48 + len(text)] = 1  # header padding
    bad[48 + len(text) + 1:48 + len(text) + 1] = b""
    expect_error(bad, "non-zero byte in the header padding")


@pytest.mark.parametrize("text,fragment", [
    (b"not json", "header JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":[]} x', "header JSON"),
    (b'{"format_version":"1.0","model":{"family":"t"},"model":{"family":"u"},"tensors":[]}', "duplicate key"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":[],"x":NaN}', "header JSON"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":[],"x":"\xff"}', "header JSON"),
    (b'{"format_version":"1.0","tensors":[]}', "model"),
    (b'{"format_version":"1.0","model":{"family":3},"tensors":[]}', "family"),
    (b'{"format_version":"1.0","model":{"family":"t"}}', "tensors"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":{}}', "tensors"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":[],"provenance":[]}', "provenance"),
    (b'{"format_version":1,"model":{"family":"t"},"tensors":[]}', "format_version"),
    (b'{"format_version":"1.0","model":{"family":"t"},"tensors":[],"x":' + b"[" * 80 + b"]" * 80 + b"}", "64"),
])
def test_bad_headers(text, fragment):
    expect_error(build(None, text=text), fragment)


def test_empty_table_is_valid():
    cc, py = both_readers(build({"format_version": "1.0", "model": {"family": "t"}, "tensors": []}))
    assert cc.names == [] and py.names == []


@pytest.mark.parametrize("i,changes,fragments", [
    (1, {"offset": 128}, ["tensor 'm'", "leaves a gap", "expected offset 64"]),
    (1, {"offset": 0}, ["tensor 'm'", "overlaps tensor 'a'"]),
    (1, {"offset": 32}, ["tensor 'm'", "not a multiple of 64"]),
    (1, {"offset": 1 << 40}, ["tensor 'm'", "extend past the end of the file"]),
    (0, {"offset": -64}, ["tensor 'a'", "negative"]),
    (0, {"nbytes": 44}, ["tensor 'a'", "nbytes 44 does not match f32 [10] (needs 40)"]),
    (1, {"nbytes": 999}, ["tensor 'm'", "does not match packed q4a [20, 40] group 32"]),
    (0, {"shape": [2**40, 2**40, 2**40]}, ["tensor 'a'", "overflows"]),
    (0, {"shape": [2**41]}, ["tensor 'a'", "out of range"]),
    (0, {"shape": [1e300]}, ["tensor 'a'"]),
    (0, {"shape": [-1]}, ["tensor 'a'", "out of range"]),
    (0, {"shape": [2.5]}, ["tensor 'a'", "integer"]),
    (0, {"shape": [1] * 9}, ["tensor 'a'", "at most 8"]),
    (1, {"shape": [20, 40, 1]}, ["tensor 'm'", "2-D shape"]),
    (1, {"shape": [0, 40]}, ["tensor 'm'", "out of range"]),
    (1, {"packed": {"format": "q5", "group": 32}}, ["tensor 'm'", "unknown weight format 'q5'"]),
    (1, {"packed": {"format": "q4a", "group": 48}}, ["tensor 'm'", "group 48"]),
    (1, {"packed": {"format": "q4a", "group": 2**40}}, ["tensor 'm'", "group"]),
    (1, {"dtype": "f32"}, ["tensor 'm'", "exactly one of 'dtype' and 'packed'"]),
    (0, {"dtype": None}, ["tensor 'a'", "exactly one of 'dtype' and 'packed'"]),
    (0, {"dtype": "f64"}, ["tensor 'a'", "unknown dtype 'f64'"]),
    (0, {"crc32": "ABCDEF01"}, ["tensor 'a'", "crc32"]),
    (0, {"crc32": 12}, ["tensor 'a'", "crc32"]),
    (0, {"crc32": None}, ["tensor 'a'", "crc32"]),
    (0, {"name": "m"}, ["tensor 'm'", "duplicate name"]),
    (0, {"name": ""}, ["tensor #0", "name"]),
    (0, {"name": 7}, ["tensor #0", "name"]),
    (0, {"name": None}, ["tensor #0", "name"]),
])
def test_bad_tensor_entries(i, changes, fragments):
    _, hdr, data = small_file()
    if changes.get("offset") == 128:  # room for the gap, so that the range check passes
        data = data[:64] + b"\0" * 64 + data[64:]
    expect_error(build(with_tensor(hdr, i, **changes), data), *fragments)


def test_bad_table_shapes():
    _, hdr, data = small_file()
    h = json.loads(json.dumps(hdr))
    h["tensors"].append(3)
    expect_error(build(h, data), "tensor #2: entry must be an object")
    h = json.loads(json.dumps(hdr))
    h["tensors"] = h["tensors"][:1]
    expect_error(build(h, data), "are not described by the tensor table")
    h["tensors"] = []
    expect_error(build(h, data), "after the header are not described")


def test_nonzero_padding_between_tensors():
    _, hdr, data = small_file()
    bad = bytearray(data)
    bad[50] = 7
    expect_error(build(hdr, bytes(bad)), "non-zero byte in the padding between tensors", verify=False)


def test_bad_packed_values():
    _, hdr, data = small_file()
    lay = quant.layout("q4a", 20, 40, 32)
    for section, offset, value, frag in [("scales", lay.scales_offset + 2 * 3, b"\x00\x7c", "scale of row 3, group 0 is not finite"),
                                         ("zeros", lay.zeros_offset + 5, b"\x10", "zero point 16 of row 5")]:
        bad = bytearray(data)
        bad[64 + offset:64 + offset + len(value)] = value
        h = with_tensor(hdr, 1, crc32=f"{zlib.crc32(bytes(bad[64:]))  :08x}")
        expect_error(build(h, bytes(bad)), "tensor 'm'", frag)
    # padding rows (20..31 of the second panel) are not checked
    bad = bytearray(data)
    pad = 64 + lay.scales_offset + 2 * ((1 * lay.groups + 0) * 16 + 10)  # panel 1, group 0, row 26
    bad[pad:pad + 2] = b"\x00\x7c"
    both_readers(build(hdr, bytes(bad)), verify=False)


def test_cpp_json_parser_equals_python():
    rng = np.random.default_rng(6)
    alphabet = ["a", "Z", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01", "\x1f", "é", "ß", "日",
                "\U0001F600", "\U00010000", "\U0010FFFF", "\u2028", "\0"]

    def value(depth):
        k = rng.integers(0, 9 if depth < 5 else 6)
        if k == 0:
            return None
        if k == 1:
            return bool(rng.integers(0, 2))
        if k == 2:
            return int(rng.integers(-2**62, 2**62)) * int(rng.integers(0, 3))
        if k == 3:
            return float(rng.standard_normal() * 10.0 ** rng.integers(-300, 300))
        if k == 4:
            return float(rng.integers(-1000, 1000))
        if k == 5:
            return "".join(rng.choice(alphabet) for _ in range(rng.integers(0, 12)))
        if k in (6, 7):
            return [value(depth + 1) for _ in range(rng.integers(0, 5))]
        return {"".join(rng.choice(alphabet) for _ in range(rng.integers(0, 4))): value(depth + 1)
                for _ in range(rng.integers(0, 5))}

    for i in range(300):
        v = value(0)
        for ascii_ in (True, False):
            text = json.dumps(v, ensure_ascii=ascii_, indent=None if i % 2 else 1)
            assert _core.json_loads(text.encode("utf-8")) == json.loads(text)
    for text in [b"-0", b"1E+2", b"1e-2", b"9223372036854775807", b"-9223372036854775808", b"18446744073709551616",
                 b"5e-324", b"1.7976931348623157e308", b' \t\r\n"x" ']:
        assert _core.json_loads(text) == json.loads(text)
    for bad in [b"", b"01", b"1.", b".5", b"+1", b"1e", b"1e999", b"-", b"NaN", b"Infinity", b"tru", b"[1,]",
                b"{\"a\":1,}", b"{'a':1}", b"\"\\x\"", b"\"\\ud800\"", b"\"\\udc00\"", b"\"\\ud800\\u0041\"",
                b"\"\xc0\xaf\"", b"\"\xed\xa0\x80\"", b"\"\xf4\x90\x80\x80\"", b"\"\x80\"", b"\"\x01\"", b"[" * 100,
                b"\"abc", b"[1] [2]", b"{\"a\" 1}", b"1" * 101]:
        with pytest.raises(ValueError, match="JSON"):
            _core.json_loads(bad)
