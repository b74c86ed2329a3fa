"""Model importers and adapters (reference math in PyTorch).

Submodules import torch/transformers lazily or only when used, so importing
this package stays cheap:

- :mod:`qasr_native.models.ct2` reads CTranslate2 ``model.bin`` files (numpy
  only).
- :mod:`qasr_native.models.whisper` loads Whisper from a Hugging Face or a
  CTranslate2 directory into ``transformers`` and decodes it.
- :mod:`qasr_native.models.whisper_frontend` is a numpy mirror of Whisper's
  log-mel front end.
"""
