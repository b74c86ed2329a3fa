"""The reference Conformer-CTC in PyTorch: the model the C++ executor serves.

Every detail here is part of the serving contract (docs/conformer.md): the
C++ executor in csrc/runtime reproduces this forward pass, and the state_dict
names are the tensor names of the `.qasr` file.

Streaming-friendly by construction:

* the depthwise convolution is causal (left padding only) in every mode;
* normalisation is LayerNorm everywhere (no batch statistics);
* positions enter only through rotary embeddings (RoPE), so attention scores
  depend on position differences and a stream can restart its position
  origin at any time;
* the subsampling convolutions have no time padding, so encoder frame t
  depends on fbank frames [4t, 4t + 6] only (4x) and never on the future
  beyond them;
* ``chunk_size`` / ``left_chunks`` give the attention mask of chunked
  streaming, so one model serves full context and streaming.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

FAMILY = "conformer_ctc"


@dataclass
class ConformerConfig:
    n_mels: int = 80
    d_model: int = 144
    n_heads: int = 4
    n_layers: int = 4
    ff_dim: int = 576
    conv_kernel: int = 15
    subsampling: int = 4
    sub_channels: int = 64
    vocab_size: int = 32
    blank: int = 0
    rope_base: float = 10000.0
    ln_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.subsampling not in (4, 8):
            raise ValueError(f"subsampling must be 4 or 8, got {self.subsampling}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("the head size must be even for rotary embeddings")
        if self.conv_kernel < 1:
            raise ValueError("conv_kernel must be >= 1")
        if self.vocab_size < 2:
            raise ValueError("vocab_size must be >= 2 (blank and one token)")
        if not 0 <= self.blank < self.vocab_size:
            raise ValueError("blank must be a token id")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def sub_convs(self) -> int:
        return 2 if self.subsampling == 4 else 3

    @property
    def sub_freq(self) -> int:
        """Frequency bins left after the subsampling convolutions."""
        f = self.n_mels
        for _ in range(self.sub_convs):
            f = conv_out_len(f)
        return f

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ConformerConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - {"family"}
        if unknown:
            raise ValueError(f"unknown Conformer config fields: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def preset(cls, name: str, vocab_size: int) -> "ConformerConfig":
        """Named sizes: ``tiny`` (2.2 M parameters with 32 tokens), ``small`` (19 M with 500)."""
        presets = {
            "tiny": dict(d_model=144, n_heads=4, n_layers=4, ff_dim=576, sub_channels=64),
            "small": dict(d_model=256, n_heads=4, n_layers=12, ff_dim=1024, sub_channels=128),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r} (expected {', '.join(presets)})")
        return cls(vocab_size=vocab_size, **presets[name])


def conv_out_len(n):
    """Length after a 3-wide stride-2 convolution without padding (works on ints and tensors)."""
    if isinstance(n, torch.Tensor):
        return torch.clamp((n - 3) // 2 + 1, min=0)
    return max((n - 3) // 2 + 1, 0)


def subsampled_lengths(lengths, config: ConformerConfig):
    for _ in range(config.sub_convs):
        lengths = conv_out_len(lengths)
    return lengths


def chunk_mask(T: int, chunk_size: Optional[int], left_chunks: int = -1,
               device: Optional[torch.device] = None) -> Optional[torch.Tensor]:
    """[T, T] boolean mask, True where query i may attend key j (None: full context).

    Chunk c holds frames [c*chunk, (c+1)*chunk); a query sees its own chunk,
    all earlier ones (``left_chunks`` < 0) or the ``left_chunks`` before it.
    """
    if chunk_size is None:
        return None
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    c = torch.arange(T, device=device) // chunk_size
    qi, kj = c[:, None], c[None, :]
    allowed = kj <= qi
    if left_chunks >= 0:
        allowed = allowed & (kj >= qi - left_chunks)
    return allowed


def rope_tables(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin [T, head_dim] (rotate-half layout); angles in float64, then float32."""
    half = head_dim // 2
    inv_freq = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / head_dim)
    ang = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    cos = torch.cos(ang).to(torch.float32)
    sin = torch.sin(ang).to(torch.float32)
    return torch.cat([cos, cos], dim=-1), torch.cat([sin, sin], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class FeedForward(nn.Module):
    def __init__(self, d: int, ff: int, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d, eps=eps)
        self.linear1 = nn.Linear(d, ff)
        self.linear2 = nn.Linear(ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.silu(self.linear1(self.norm(x))))


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, base: float, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.base = base
        self.norm = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        B, T, d = x.shape
        h, dh = self.heads, d // self.heads
        q, k, v = self.qkv(self.norm(x)).split(d, dim=-1)
        q, k, v = (t.reshape(B, T, h, dh).transpose(1, 2) for t in (q, k, v))  # [B, h, T, dh]
        cos, sin = rope_tables(torch.arange(T, device=x.device), dh, self.base)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        if mask is not None:  # [B, T, T] boolean, True = attend
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        att = torch.softmax(scores, dim=-1)
        # Query rows with no visible key (padding queries) give NaN; zero them.
        att = torch.nan_to_num(att, nan=0.0)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        return self.out(y)


class ConvModule(nn.Module):
    def __init__(self, d: int, kernel: int, eps: float) -> None:
        super().__init__()
        self.kernel = kernel
        self.norm = nn.LayerNorm(d, eps=eps)
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv1d(d, d, kernel, groups=d)
        self.dw_norm = nn.LayerNorm(d, eps=eps)
        self.pw2 = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Causal, so padding at the end of a sequence never reaches its valid frames.
        y = F.glu(self.pw1(self.norm(x)), dim=-1)
        y = F.pad(y.transpose(1, 2), (self.kernel - 1, 0))  # causal: left padding only
        y = self.dw(y).transpose(1, 2)
        return self.pw2(F.silu(self.dw_norm(y)))


class ConformerBlock(nn.Module):
    def __init__(self, c: ConformerConfig) -> None:
        super().__init__()
        self.ff1 = FeedForward(c.d_model, c.ff_dim, c.ln_eps)
        self.attn = SelfAttention(c.d_model, c.n_heads, c.rope_base, c.ln_eps)
        self.conv = ConvModule(c.d_model, c.conv_kernel, c.ln_eps)
        self.ff2 = FeedForward(c.d_model, c.ff_dim, c.ln_eps)
        self.norm_out = nn.LayerNorm(c.d_model, eps=c.ln_eps)

    def forward(self, x: torch.Tensor, att_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(x, att_mask)
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)


class Subsampling(nn.Module):
    def __init__(self, c: ConformerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for _ in range(c.sub_convs):
            layers += [nn.Conv2d(cin, c.sub_channels, 3, stride=2), nn.ReLU()]
            cin = c.sub_channels
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(c.sub_channels * c.sub_freq, c.d_model)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        y = self.conv(feats[:, None])  # [B, C, T', F']
        B, C, T, Fq = y.shape
        return self.out(y.permute(0, 2, 1, 3).reshape(B, T, C * Fq))


class ConformerCTC(nn.Module):
    """Conformer encoder with a CTC head; input log-mel fbank [B, T, n_mels]."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("cmvn_mean", torch.zeros(config.n_mels))
        self.register_buffer("cmvn_istd", torch.ones(config.n_mels))
        self.subsample = Subsampling(config)
        self.blocks = nn.ModuleList(ConformerBlock(config) for _ in range(config.n_layers))
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def set_cmvn(self, mean, std, floor: float = 1e-5) -> None:
        """Global mean/variance normalisation from training-set statistics."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        self.cmvn_mean.copy_(mean)
        self.cmvn_istd.copy_(1.0 / torch.clamp(std, min=floor))

    def encode(self, feats: torch.Tensor, lengths: Optional[torch.Tensor] = None,
               chunk_size: Optional[int] = None, left_chunks: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output [B, T', d] and its lengths."""
        if feats.dim() != 3 or feats.shape[-1] != self.config.n_mels:
            raise ValueError(f"features must be [B, T, {self.config.n_mels}], got {tuple(feats.shape)}")
        B, T, _ = feats.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=feats.device)
        if subsampled_lengths(T, self.config) == 0:  # too short for one encoder frame
            empty = feats.new_zeros(B, 0, self.config.d_model)
            return empty, torch.zeros(B, dtype=torch.long, device=feats.device)
        x = (feats - self.cmvn_mean) * self.cmvn_istd
        x = self.subsample(x)
        Tp = x.shape[1]
        out_lengths = subsampled_lengths(lengths.to(torch.long), self.config)
        pad_mask = torch.arange(Tp, device=x.device)[None, :] < out_lengths[:, None]  # [B, T']
        att_mask = pad_mask[:, None, :].expand(B, Tp, Tp)
        cm = chunk_mask(Tp, chunk_size, left_chunks, device=x.device)
        if cm is not None:
            att_mask = att_mask & cm[None]
        if cm is None and bool(pad_mask.all()):
            att_mask = None  # full context, no padding: plain attention
        for block in self.blocks:
            x = block(x, att_mask)
        return x, out_lengths

    def forward(self, feats: torch.Tensor, lengths: Optional[torch.Tensor] = None,
                chunk_size: Optional[int] = None, left_chunks: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC logits [B, T', vocab] (before log-softmax) and their lengths."""
        x, out_lengths = self.encode(feats, lengths, chunk_size, left_chunks)
        return self.head(x), out_lengths

    def quantizable_layers(self) -> list[tuple[str, nn.Linear]]:
        """Every nn.Linear, by module name: the layers a .qasr file may quantize."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, nn.Linear)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return json.dumps(self.config.to_dict())
