"""CTC decoding against independent references: greedy against numpy,
prefix beam search against exact enumeration of all alignments and against
PyTorch's CTC loss (the forward algorithm); incremental against
all-at-once; tokenizers and endpoint rules."""

import itertools

import numpy as np
import pytest

from qasr_native import _core


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def random_log_probs(rng, T, V, peak=0.0):
    z = rng.standard_normal((T, V)) * 1.5
    if peak:
        z[np.arange(T), rng.integers(0, V, T)] += peak
    return log_softmax(z).astype(np.float32)


def numpy_greedy(scores, blank=0):
    best = scores.argmax(axis=1)
    tokens, frames = [], []
    prev = -1
    for t, k in enumerate(best):
        if k != blank and k != prev:
            tokens.append(int(k))
            frames.append(t)
        prev = k
    return tokens, frames


def brute_force(lp, blank):
    """{labelling: (log P summed over alignments, best path's emission frames)}."""
    T, V = lp.shape
    total, best = {}, {}
    for path in itertools.product(range(V), repeat=T):
        s = float(sum(lp[t, k] for t, k in enumerate(path)))
        labels, frames = [], []
        for t, k in enumerate(path):
            if k != blank and (t == 0 or k != path[t - 1]):
                labels.append(k)
                frames.append(t)
        key = tuple(labels)
        total[key] = np.logaddexp(total.get(key, -np.inf), s)
        if key not in best or s > best[key][0]:
            best[key] = (s, frames)
    return {k: (total[k], best[k][1]) for k in total}


@pytest.mark.parametrize("seed", range(10))
def test_greedy_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    blank = seed % 3
    scores = (rng.standard_normal((200, 29)) * 3).astype(np.float32)  # raw logits are fine for greedy
    h = _core.ctc_greedy(scores, blank=blank)
    tokens, frames = numpy_greedy(scores, blank)
    assert h.tokens == tokens and h.frames == frames
    assert h.score == pytest.approx(float(scores.max(axis=1).astype(np.float64).sum()), rel=1e-5)


@pytest.mark.parametrize("T,V", [(4, 3), (6, 3), (5, 4), (3, 6)])
@pytest.mark.parametrize("seed", range(4))
def test_beam_search_is_exact_with_a_wide_beam(T, V, seed):
    rng = np.random.default_rng(100 + seed)
    lp = random_log_probs(rng, T, V)
    blank = seed % V
    truth = brute_force(lp, blank)
    best = max(truth, key=lambda k: truth[k][0])
    nbest = _core.ctc_beam_search(lp, beam=10000, blank=blank, max_tokens_per_frame=V)
    assert tuple(nbest[0].tokens) == best
    assert nbest[0].score == pytest.approx(truth[best][0], abs=1e-4)
    assert nbest[0].frames == truth[best][1]
    assert len(nbest) == len(truth)
    for h in nbest:
        assert h.score == pytest.approx(truth[tuple(h.tokens)][0], abs=1e-4)
        assert h.frames == truth[tuple(h.tokens)][1]


def torch_ctc_log_prob(lp, tokens):
    """log P(tokens | lp) by PyTorch's CTC forward algorithm (float64)."""
    torch = pytest.importorskip("torch")
    loss = torch.nn.functional.ctc_loss(
        torch.from_numpy(lp.astype(np.float64))[:, None, :], torch.tensor([tokens]), torch.tensor([len(lp)]),
        torch.tensor([len(tokens)]), blank=0, reduction="none", zero_infinity=False)
    return -float(loss[0])


@pytest.mark.parametrize("peak,beam,tol,top_tol", [(9.0, 16, 5e-2, 1e-2), (9.0, 256, 1e-2, 1e-3),
                                                   (4.0, 64, None, None)])
def test_beam_scores_against_torch_ctc_loss(peak, beam, tol, top_tol):
    """Beam scores sum the alignments that survived pruning: never more than
    the exact CTC probability. On peaked posteriors, as real CTC models
    produce (top token ~0.99), a small beam keeps essentially all of it; on
    diffuse ones (top ~0.67, 10 tokens, 60 frames) a long label sequence's
    alignments pass through many pruned prefixes and the score is only a
    lower bound. The gap shrinks as the beam grows."""
    rng = np.random.default_rng(7)
    T, V = 60, 10
    lp = random_log_probs(rng, T, V, peak=peak)
    for i, h in enumerate(_core.ctc_beam_search(lp, beam=beam, nbest=5)):
        if not h.tokens:
            continue
        exact = torch_ctc_log_prob(lp, h.tokens)
        assert h.score <= exact + 1e-6
        if tol is not None:
            assert h.score == pytest.approx(exact, abs=top_tol if i == 0 else tol)


@pytest.mark.parametrize("seed", range(5))
def test_beam_one_equals_greedy_on_peaked_posteriors(seed):
    rng = np.random.default_rng(200 + seed)
    lp = random_log_probs(rng, 150, 40, peak=12.0)
    (h,) = _core.ctc_beam_search(lp, beam=1)
    g = _core.ctc_greedy(lp)
    assert h.tokens == g.tokens and h.frames == g.frames


@pytest.mark.parametrize("method", ["greedy", "prefix_beam"])
@pytest.mark.parametrize("seed", range(5))
def test_incremental_equals_all_at_once(method, seed):
    rng = np.random.default_rng(300 + seed)
    lp = random_log_probs(rng, 200, 16, peak=2.5)
    whole = _core.CtcDecoder(method, beam=6, nbest=4)
    whole.accept(lp)
    parts = _core.CtcDecoder(method, beam=6, nbest=4)
    t = 0
    while t < len(lp):
        n = int(rng.integers(0, 12))
        parts.accept(lp[t:t + n])
        t += n
        parts.best()
    a, b = whole.nbest(), parts.nbest()
    assert [(h.tokens, h.frames, h.score) for h in a] == [(h.tokens, h.frames, h.score) for h in b]
    assert parts.num_frames == 200 and parts.trailing_blank_frames == whole.trailing_blank_frames
    if method == "greedy":
        assert a[0].tokens == _core.ctc_greedy(lp).tokens
    else:
        assert [h.tokens for h in a] == [h.tokens for h in _core.ctc_beam_search(lp, beam=6, nbest=4)]


def test_log_softmax_option():
    rng = np.random.default_rng(1)
    lp = random_log_probs(rng, 40, 7, peak=1.0)
    logits = lp + rng.standard_normal((40, 1)).astype(np.float32) * 5  # per-frame offsets
    a = _core.ctc_beam_search(lp, beam=4)
    b = _core.ctc_beam_search(logits, beam=4, log_softmax=True)
    assert [h.tokens for h in a] == [h.tokens for h in b]
    assert a[0].score == pytest.approx(b[0].score, abs=1e-3)


def test_decoder_errors():
    with pytest.raises(ValueError, match="2-D"):
        _core.ctc_greedy(np.zeros(5, np.float32))
    bad = np.zeros((3, 4), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.ctc_beam_search(bad)
    with pytest.raises(ValueError, match="method"):
        _core.CtcDecoder("viterbi")
    d = _core.CtcDecoder()
    d.accept(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="earlier frames had 5"):
        d.accept(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match="blank id"):
        _core.ctc_greedy(np.zeros((2, 3), np.float32), blank=3)


# ---- tokenizer -----------------------------------------------------------------

def test_char_tokenizer():
    pieces = ["<blk>", "|", "h", "i", "t", "e", "r", "<unk>"]
    tok = _core.Tokenizer(pieces, "char")
    assert len(tok) == 8 and tok.kind == "char" and tok.blank == 0
    ids = [2, 3, 1, 4, 2, 5, 6, 5, 1]
    assert tok.decode(ids) == "hi there"
    assert tok.decode([0, 1, 1, 7, 2, 0]) == "h"
    assert tok.piece(2) == "h" and tok.id("r") == 6 and tok.id("zz") == -1
    with pytest.raises(ValueError, match="outside"):
        tok.decode([8])


def test_sentencepiece_tokenizer():
    pieces = ["<blk>", "<unk>", "▁hello", "▁wor", "ld", "!", "<0xC3>", "<0xA9>", "▁caf"]
    tok = _core.Tokenizer(pieces, "sentencepiece")
    assert tok.decode([2, 3, 4, 5]) == "hello world!"
    assert tok.decode([8, 6, 7]) == "café"
    assert tok.starts_word(2) and not tok.starts_word(4)
    with pytest.raises(ValueError, match="unknown kind"):
        _core.Tokenizer(pieces, "wordpiece")


def test_greedy_plus_tokenizer_end_to_end():
    pieces = ["<blk>", "▁a", "▁cat", "s"]
    tok = _core.Tokenizer(pieces, "sentencepiece")
    frames = [0, 1, 1, 0, 2, 2, 0, 3, 0, 0]
    lp = np.full((len(frames), 4), -10.0, np.float32)
    lp[np.arange(len(frames)), frames] = 0.0
    h = _core.ctc_greedy(lp)
    assert tok.decode(h.tokens) == "a cats" and h.frames == [1, 4, 7]


# ---- endpoint ----------------------------------------------------------------------

def feed(decoder, pattern, V=3):
    """Feed frames whose top token is given by `pattern` (0 = blank)."""
    lp = np.full((len(pattern), V), -8.0, np.float32)
    lp[np.arange(len(pattern)), pattern] = -0.01
    decoder.accept(lp)


def test_endpoint_rules_on_synthetic_blank_sequences():
    ep = _core.Endpoint(_core.EndpointConfig(), frame_shift=0.04)
    d = _core.CtcDecoder()
    feed(d, [0] * 59)
    assert ep.check(d) == 0
    feed(d, [0])
    assert ep.check(d) == 1  # 2.4 s with nothing decoded
    d.reset()
    feed(d, [0] * 10 + [1, 1, 2] + [0] * 29)
    assert ep.check(d) == 0
    feed(d, [0])
    assert ep.check(d) == 2  # 1.2 s after text
    d.reset()
    feed(d, [1, 2] * 249)
    assert ep.check(d) == 0
    feed(d, [1, 2])
    assert ep.check(d) == 3  # 20 s


def test_endpoint_configuration():
    cfg = _core.EndpointConfig(rule2=_core.EndpointRule(True, 0.5, 0.0),
                               rule3=_core.EndpointRule(False, 0.0, float("inf")))
    ep = _core.Endpoint(cfg, 0.1)
    assert ep.check(100, 5, True) == 2
    assert ep.check(100, 4, True) == 0
    assert ep.check(10**6, 0, True) == 0
    assert ep.config.rule1.min_trailing_silence == pytest.approx(2.4)
    with pytest.raises(ValueError, match="frame_shift"):
        _core.Endpoint(cfg, 0.0)
