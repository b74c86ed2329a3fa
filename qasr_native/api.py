"""The serving API: load a ``.qasr`` model once, transcribe files and arrays,
and stream audio through the C++ core.

Only numpy is needed. One :class:`Recognizer` is immutable and thread-safe:
any number of :class:`Stream` objects, on any number of threads, share it
(the core releases the GIL while it computes).

    from qasr_native.api import Recognizer
    rec = Recognizer("model.qasr", threads=2)        # or "builtin"
    print(rec.transcribe("clip.wav").text)

    stream = rec.stream()
    for piece in pieces:                              # e.g. 100 ms of microphone audio
        stream.accept_waveform(piece, sample_rate=16000)
        print(stream.partial)
        if stream.is_endpoint:
            print(stream.finish().text); stream.reset()
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from . import _core
from .audio import AudioSource, load_audio

__all__ = ["Recognizer", "Stream", "Result", "EndpointRules", "resolve_model"]

BUILTIN = "builtin"
_ASSETS = Path(__file__).resolve().parent / "assets"


def resolve_model(path: Union[str, "os.PathLike[str]"]) -> str:
    """The file a model argument names: ``"builtin"`` is the model shipped in the package."""
    if os.fspath(path) == BUILTIN:
        p = _ASSETS / "builtin.qasr"
        if not p.is_file():
            raise FileNotFoundError(f"the built-in model is missing from this installation ({p})")
        return str(p)
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"model file not found: {p}")
    if os.path.isdir(p):
        raise IsADirectoryError(f"{p} is a directory; expected a .qasr file")
    return p


@dataclass
class Result:
    """A transcript: text, token ids and the start time (s) of each token."""

    text: str
    tokens: list[int] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    duration: float = 0.0  # seconds of audio

    @classmethod
    def _from_core(cls, d: dict) -> "Result":
        # Timestamps sit on the 10 ms fbank grid: milliseconds lose nothing.
        return cls(d["text"], list(d["tokens"]), [round(float(t), 3) for t in d["timestamps"]],
                   round(float(d["duration"]), 6))

    def to_dict(self) -> dict:
        return {"text": self.text, "tokens": self.tokens, "timestamps": self.timestamps, "duration": self.duration}


@dataclass
class EndpointRules:
    """sherpa-onnx-style endpoint rules (seconds); a rule fires when all its conditions hold.

    rule 1: trailing silence >= ``rule1_min_trailing_silence`` even with no text yet;
    rule 2: text was decoded and trailing silence >= ``rule2_min_trailing_silence``;
    rule 3: the utterance is longer than ``rule3_min_utterance_length``.
    """

    rule1_min_trailing_silence: float = 2.4
    rule2_min_trailing_silence: float = 1.2
    rule3_min_utterance_length: float = 20.0

    def _to_core(self):
        c = _core.EndpointConfig()
        c.rule1 = _core.EndpointRule(False, self.rule1_min_trailing_silence, 0.0)
        c.rule2 = _core.EndpointRule(True, self.rule2_min_trailing_silence, 0.0)
        c.rule3 = _core.EndpointRule(False, 0.0, self.rule3_min_utterance_length)
        return c


class Recognizer:
    """A loaded model: Conformer-CTC ``.qasr`` files (and Whisper ones where the
    Whisper executor is installed). Thread-safe; share one across streams.

    Args:
        path: a ``.qasr`` file or ``"builtin"``.
        threads: worker threads for this model's matrix products (1 = the caller only).
        chunk_ms: streaming chunk length; rounded to whole encoder frames (40 ms with 4x subsampling).
        left_chunks: chunks of left context a stream attends to (memory stays bounded).
        beam: 1 for greedy CTC decoding, > 1 for prefix beam search of that width.
        endpoint: endpoint rules for streams.
        repetition_guard: Whisper only: greedy decoding stops when the output ends with the same
            block of tokens this many times in a row, dropping that copy (0: off; docs/whisper.md).
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"] = BUILTIN, threads: int = 1, chunk_ms: float = 640,
                 left_chunks: int = 4, beam: int = 1, endpoint: Optional[EndpointRules] = None,
                 repetition_guard: int = _core.WHISPER_REPETITION_GUARD) -> None:
        self.path = resolve_model(path)
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam must be a positive integer, got {beam!r}")
        if not isinstance(left_chunks, int) or left_chunks < 0:
            raise ValueError(f"left_chunks must be an integer >= 0, got {left_chunks!r}")
        if not np.isfinite(chunk_ms) or chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms!r}")
        self.header: dict = _core.QasrFile(self.path).header
        family = self.header.get("model", {}).get("family")
        self.family = family
        self.threads = threads
        self.beam = beam
        self.left_chunks = left_chunks
        self.endpoint = endpoint or EndpointRules()
        if family == "conformer_ctc":
            self._model = _core.ConformerModel(self.path, threads)
            self.sample_rate = int(self._model.sample_rate)
            frame_ms = self._model.frame_seconds * 1000.0
            self.chunk_frames = max(1, int(round(chunk_ms / frame_ms)))
            self.chunk_ms = self.chunk_frames * frame_ms
        elif family == "whisper":
            self._model = _load_whisper(self.path, threads, repetition_guard)
            self.sample_rate = 16000
            self.chunk_frames = 0
            self.chunk_ms = float(chunk_ms)
        else:
            raise ValueError(f"{self.path}: unsupported model family {family!r} (conformer_ctc or whisper)")

    def __repr__(self) -> str:
        size = os.path.getsize(self.path)
        return (f"Recognizer({self.path!r}, family={self.family}, threads={self.threads}, "
                f"chunk_ms={self.chunk_ms:g}, left_chunks={self.left_chunks}, beam={self.beam}, "
                f"size={size / 1e6:.2f} MB)")

    def _samples(self, audio: AudioSource, sample_rate: Optional[int]) -> np.ndarray:
        if isinstance(audio, np.ndarray) and sample_rate is None:
            sample_rate = self.sample_rate
        return load_audio(audio, sample_rate, self.sample_rate)

    def transcribe(self, audio: AudioSource, sample_rate: Optional[int] = None, streaming: bool = False) -> Result:
        """Text of a whole recording (a path, or an array at ``sample_rate``, default the model's).

        ``streaming=True`` runs the streaming path (chunked, bounded left
        context) instead of full context, e.g. to measure its accuracy.
        """
        samples = self._samples(audio, sample_rate)
        if self.family == "whisper":
            text, tokens = self._model.transcribe(samples)
            return Result(text, list(tokens), [], len(samples) / self.sample_rate)
        if streaming:
            s = self.stream()
            s._accept(samples)
            return s.finish()
        return Result._from_core(self._model.transcribe(samples, self.beam))

    def stream(self) -> "Stream":
        """A new streaming session over this model."""
        if self.family == "whisper":
            raise NotImplementedError("streaming is not available for Whisper models; use transcribe()")
        return Stream(self)

    def logits(self, feats: np.ndarray, chunk: int = 0, left_chunks: int = -1) -> np.ndarray:
        """CTC logits [T', vocab] for fbank features [T, n_mels] (the executor's raw output)."""
        return self._model.logits(np.ascontiguousarray(feats, dtype=np.float32), chunk, left_chunks)


class Stream:
    """One audio stream: feed pieces of any size, read partial text, detect endpoints.

    Holds bounded state (memory is flat on endless input); use one stream
    per thread (many streams may share the Recognizer).
    """

    def __init__(self, recognizer: Recognizer, keep_logits: bool = False) -> None:
        self.recognizer = recognizer
        self._lock = threading.Lock()
        self._s = _core.ConformerStream(recognizer._model, recognizer.beam, recognizer.chunk_frames,
                                        recognizer.left_chunks, recognizer.endpoint._to_core(), keep_logits)

    def __repr__(self) -> str:
        r = self._s.result()
        return f"Stream(seconds={r['duration']:.2f}, finished={self._s.finished}, partial={r['text']!r})"

    def _accept(self, samples: np.ndarray) -> None:
        with self._lock:
            self._s.accept_waveform(samples)

    def accept_waveform(self, samples: AudioSource, sample_rate: Optional[int] = None) -> None:
        """Append audio: an array at ``sample_rate`` (default the model's) or a file."""
        if isinstance(samples, np.ndarray) and samples.size == 0:
            return
        self._accept(self.recognizer._samples(samples, sample_rate))

    @property
    def partial(self) -> str:
        """The text decoded so far."""
        return self._s.result()["text"]

    @property
    def result(self) -> Result:
        return Result._from_core(self._s.result())

    @property
    def is_endpoint(self) -> bool:
        """True when an endpoint rule fired (call finish() and reset() to start the next utterance)."""
        return self._s.endpoint_rule != 0

    def finish(self) -> Result:
        """Flush the last partial chunk and return the final result."""
        with self._lock:
            self._s.input_finished()
        return self.result

    def reset(self) -> None:
        """Forget everything and start a new utterance."""
        with self._lock:
            self._s.reset()

    @property
    def state_bytes(self) -> int:
        return self._s.state_bytes

    def kept_logits(self) -> np.ndarray:
        return self._s.kept_logits()


def _load_whisper(path: str, threads: int, repetition_guard: int):
    try:
        from .runtime_whisper import WhisperRecognizer  # the native Whisper executor
    except ImportError as e:  # pragma: no cover - depends on the build
        raise ValueError(f"{path}: Whisper .qasr files need the Whisper executor, which this build lacks ({e})")
    return WhisperRecognizer(path, threads, repetition_guard=repetition_guard)

