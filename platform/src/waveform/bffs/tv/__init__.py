"""The TV BFF: :mod:`waveform.bffs.tv.app` (made by ``python -m tailor new tv``)."""
