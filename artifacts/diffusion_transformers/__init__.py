"""Producers of the figures and tables on the page ``docs/diffusion-transformers.md`` (lesson 2)."""
