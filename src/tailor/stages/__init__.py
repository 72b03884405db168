"""One module per pipeline stage. The order they run in lives in :mod:`tailor.pipeline`; the
shape they share (:class:`~tailor.chain.Stage`) and the combinators they finish with live in
:mod:`tailor.chain`."""
