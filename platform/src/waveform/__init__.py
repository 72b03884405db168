"""waveform: the reference platform (a SoundCloud-like product) built around tailor.

``python -m waveform demo`` starts every service and BFF; see :mod:`waveform.supervisor`.
"""

from __future__ import annotations

__all__: list[str] = []
