"""Lesson 4, refiners: the single-stream model with and without refiner blocks (``zimage-refiners``).

The model without refiners (``digits-no-refiners``) turns each refiner into one more main block,
so an image token passes through as many blocks in both: equal compute per image token. Both
read the same frozen text features. The figure draws both from the same noise and captions; the
table and the headline come from the two models' ``digits-scenes-*`` evaluations.
"""

from __future__ import annotations

from artifacts.digits.compare import (
    comparison_findings,
    comparison_rows,
    grid_alt,
    grid_caption,
    grid_counts,
    grid_figure,
    load_scores,
    sample_grid,
    table_note,
)
from artifacts.digits.models import on_cpu_threads
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import default_evaluator
from snippets.digits.training import load_trained

MODELS = {"with refiners": "digits-single-stream", "without refiners": "digits-no-refiners"}
"""Column name and trained artifact of each model."""
SENTENCE_NAMES = ("model with refiners", "model without refiners")


def blocks_row(configs: list[dict]) -> list[str]:
    """The table row that shows equal compute: blocks an image token passes through.

    Examples:
        >>> blocks_row([{"depth": 3, "n_refiner_layers": 1}, {"depth": 4, "n_refiner_layers": 0}])
        ['blocks per image token (refiner + shared)', '1 + 3 = 4', '0 + 4 = 4']
    """
    return [
        "blocks per image token (refiner + shared)",
        *(
            f"{c['n_refiner_layers']} + {c['depth']} = {c['n_refiner_layers'] + c['depth']}"
            for c in configs
        ),
    ]


@producer(
    "zimage-refiners",
    needs=[*MODELS.values(), "digits-scenes-single-stream", "digits-scenes-no-refiners"],
)
@on_cpu_threads
def zimage_refiners(ctx):
    """Side-by-side scene grids (same noise, same captions), a table and a generated headline."""
    models = {}
    for name, artifact in MODELS.items():
        model, info = load_trained(ctx.input(artifact), ctx.device)
        scores = load_scores(ctx.input(artifact.replace("digits-", "digits-scenes-")))
        models[name] = {"model": model, "info": info, "scores": scores}
    size = models["with refiners"]["info"]["config"]["size"]
    grids = {name: sample_grid(m["model"], "single-stream", size) for name, m in models.items()}
    classifier = default_evaluator(size).classifier
    counts = {name: grid_counts(grid, classifier) for name, grid in grids.items()}
    with_r, without = (models[n]["scores"] for n in MODELS)
    findings = comparison_findings(with_r, without, SENTENCE_NAMES)
    ctx.save_figure(
        grid_figure(grids, size),
        "refiners.png",
        alt=grid_alt(counts),
        caption=(
            "The single-stream model with refiners (left) and without (right, its refiners turned "
            "into shared blocks), from the same noise and captions. " + grid_caption(counts)
        ),
    )
    header = ["measure", "with refiners", "without refiners"]
    rows = comparison_rows(models)
    rows.insert(1, blocks_row([m["info"]["config"] for m in models.values()]))
    ctx.save_table(
        markdown_table(header, rows, align="lrr") + "\n\n" + table_note(with_r),
        "refiners-table.md",
    )
    ctx.save_table(" ".join(findings), "headline.md")
    ctx.save_json({"grid_counts": counts, "findings": findings}, "numbers.json")
