"""The course's teaching code: the blocks, models and training loops the lesson pages import.

Plain PyTorch, one idea per module, a runnable example on every public object. The producers of
the site's figures live in ``artifacts/`` and the site machinery in ``sitetools/``; nothing here
imports either.
"""
