"""Personalization: label-free sensitivity, exact-budget bit allocation,
calibration and packing (docs/personalization.md).

Layout: ``adapters/`` (what each model family exposes), ``clips.py`` (the
user's calibration clips), ``size.py`` (exact file sizes, budgets),
``sensitivity.py``, ``allocation.py``, ``calibration.py``, ``pipeline.py``
(personalize / pack), ``report.py`` (markdown, JSON, plots).
"""
