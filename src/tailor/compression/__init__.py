"""Content codings: negotiation (``negotiate``), the codecs (``codecs``) and which responses
are compressed and how (``represent``). The compress stage (:mod:`tailor.stages.compress`)
and the cache stage use them; docs/compression.md is the guide."""
