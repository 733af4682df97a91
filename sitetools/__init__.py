"""Site machinery: the artifact pipeline, the Markdown macros and the MkDocs hooks.

Nothing here is teaching code: the lesson pages import ``snippets``, never ``sitetools``.
"""
