"""``python -m waveform.protos``: compile the descriptor set now (run at install time)."""

from __future__ import annotations

from waveform.protos import DESCRIPTOR_SET, compile_protos

compile_protos(DESCRIPTOR_SET)
print(DESCRIPTOR_SET)
