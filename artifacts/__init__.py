"""The lessons' artifact producers: every figure, table and trained model on the site.

One subpackage per lesson page (``diffusion_transformers`` for ``docs/diffusion-transformers.md``)
and one for the digit generators the lessons share (``digits``). Every module under this package
is imported by the pipeline (``python -m sitetools.pipeline``), and each ``@producer`` it defines
becomes the artifact ``docs/generated/<name>/``. The contributing page documents the producer API.
"""
