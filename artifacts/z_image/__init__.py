"""Producers of the figures and tables on the page ``docs/z-image.md`` (lesson 4)."""
