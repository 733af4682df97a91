"""MMDiT against naive concatenation on the two-digit scenes (``sd3-naive-vs-mmdit``).

Both models are the same [`MMDiT`][snippets.mmdit.MMDiT] class, trained alike; the naive one is
built with ``share_weights=True``, so its text tokens go through the image stream's weights.
The figure draws both from the same noise and captions; the table and the headline come from
the two models' ``digits-scenes-*`` evaluations.
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
    pair_figure,
    pair_placement,
    pair_summary,
    pair_words,
    sample_grid,
    table_note,
)
from artifacts.digits.models import on_cpu_threads
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import default_evaluator
from snippets.digits.scenes import HELD_OUT_PAIRS
from snippets.digits.training import load_trained

MODELS = {"MMDiT": "digits-mmdit", "naive concatenation": "digits-naive-concat"}
"""Column name and trained artifact of each model."""
SENTENCE_NAMES = ("MMDiT", "naive-concatenation model")


@producer(
    "sd3-naive-vs-mmdit",
    needs=[*MODELS.values(), "digits-scenes-mmdit", "digits-scenes-naive-concat"],
)
@on_cpu_threads
def sd3_naive_vs_mmdit(ctx):
    """Side-by-side scene grids (same noise, same captions), a table and a generated headline."""
    models = {}
    for name, artifact in MODELS.items():
        model, info = load_trained(ctx.input(artifact), ctx.device)
        scores = load_scores(ctx.input(artifact.replace("digits-", "digits-scenes-")))
        models[name] = {"model": model, "info": info, "scores": scores}
    size = models["MMDiT"]["info"]["config"]["size"]
    grids = {name: sample_grid(m["model"], "mmdit", size) for name, m in models.items()}
    classifier = default_evaluator(size).classifier
    counts = {name: grid_counts(grid, classifier) for name, grid in grids.items()}
    mm, nc = (models[n]["scores"] for n in MODELS)
    findings = comparison_findings(mm, nc, SENTENCE_NAMES)
    ctx.save_figure(
        grid_figure(grids, size),
        "samples.png",
        alt=grid_alt(counts),
        caption=(
            "The MMDiT (left) and the same class with shared weights (right), from the same noise "
            "and captions. " + grid_caption(counts)
        ),
    )
    maps = {n: pair_placement(m["model"], "mmdit", classifier, size) for n, m in models.items()}
    summaries = {name: pair_summary(rates) for name, rates in maps.items()}
    words = pair_words(summaries, SENTENCE_NAMES)
    ctx.save_figure(
        pair_figure(maps),
        "pairs.png",
        alt=(
            "Two 10 by 10 maps, one per model, of the share of scenes placed as captioned for "
            "every (left digit, right digit) pair, dark for none and yellow for all, with the "
            f"{len(HELD_OUT_PAIRS)} held-out pairs outlined. " + words + "."
        ),
        caption=words,
    )
    header = ["measure", "MMDiT (weights per stream)", "naive concatenation (shared weights)"]
    ctx.save_table(
        markdown_table(header, comparison_rows(models), align="lrr") + "\n\n" + table_note(mm),
        "comparison.md",
    )
    ctx.save_table(" ".join(findings), "headline.md")
    ctx.save_json(
        {"grid_counts": counts, "findings": findings, "pairs": summaries}, "comparison.json"
    )
