"""The artifact pipeline: run the lessons' producers and notebooks, keep only what is stale.

Every number, figure and executed notebook on the site is an *artifact*: the output folder of
a producer (a function in the ``artifacts`` package registered with
[`producer`][sitetools.pipeline.registry.producer]) or the executed copy of a notebook in
``notebooks/``. ``python -m sitetools.pipeline`` runs the stale ones; ``mkdocs build`` runs
it from ``sitetools/mkdocs_hooks.py`` unless ``SNIPPETS_EXECUTE=0``.

One module per job: [`registry`][sitetools.pipeline.registry] (what exists),
[`keys`][sitetools.pipeline.keys] (what can change it), [`context`][sitetools.pipeline.context]
(what a producer gets and how its files are written), [`store`][sitetools.pipeline.store]
(manifest, atomic writes, lock), [`stamp`][sitetools.pipeline.stamp] (nothing changed since the
last complete run: answered without importing a producer), [`notebooks`][sitetools.pipeline.notebooks],
[`runner`][sitetools.pipeline.runner] (plan and execute) and [`cli`][sitetools.pipeline.cli].
"""

from sitetools.pipeline.context import Context
from sitetools.pipeline.keys import SourceIndex, cache_key, code_digest
from sitetools.pipeline.notebooks import execute_notebook, executed_notebook, strip_outputs
from sitetools.pipeline.registry import (
    MODULES_ENV,
    BuildError,
    Notebook,
    Producer,
    all_producer_modules,
    discover,
    params_for_profile,
    producer,
    producer_modules,
)
from sitetools.pipeline.runner import DEVICE_ENV, BuildResult, PlanItem, build, plan, select_device
from sitetools.pipeline.store import TMP_NAME, read_manifest

__all__ = [
    "DEVICE_ENV",
    "MODULES_ENV",
    "BuildError",
    "BuildResult",
    "Context",
    "Notebook",
    "PlanItem",
    "Producer",
    "SourceIndex",
    "TMP_NAME",
    "all_producer_modules",
    "build",
    "cache_key",
    "code_digest",
    "discover",
    "execute_notebook",
    "executed_notebook",
    "params_for_profile",
    "plan",
    "producer",
    "producer_modules",
    "read_manifest",
    "select_device",
    "strip_outputs",
]
