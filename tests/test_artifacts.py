"""The lessons' producers write the files their pages include, with alt text and captions."""

import torch

from snippets.dit import build_dit
from snippets.params import count_parameters, dit_gflops


def test_figure_producers_write_their_files(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from artifacts.diffusion_transformers import patch_cost, patchify, scaling
    from sitetools.pipeline import Context

    expected = {
        patchify.dit_patchify_figure: {"patchify.png"},
        patchify.dit_positions_figure: {"positions.png"},
        patch_cost.dit_patch_cost_figure: {
            "patch-cost.png",
            "patch-size-table.md",
            "patch-size-table.json",
        },
        scaling.dit_scaling_figure: {
            "scaling.png",
            "dit-family.md",
            "dit-family-check.md",
            "dit-family.json",
            "dit-gflops.md",
        },
    }
    for func, files in expected.items():
        out = tmp_path / func.__name__
        out.mkdir()
        ctx = Context(func.__name__, out, torch.device("cpu"), "cpu", 0, root=tmp_path)
        func(ctx)
        assert {p.name for p in out.iterdir()} == files
        for figure in ctx.figures:
            assert len(figure.alt) > 80 and figure.caption
            assert (out / figure.filename).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "dit_patch_cost_figure" / "patch-size-table.md").read_text()
    # p = 2 on the 32 x 32 latent, against the p = 8 baseline: attention 256x, the whole model less
    row = next(line for line in table.splitlines() if line.startswith("| 2 |"))
    xl2, xl8 = dit_gflops("DiT-XL/2"), dit_gflops("DiT-XL/8")
    assert row == f"| 2 | 256 | 65,536 | 256× | {xl2:.1f} | {xl2 / xl8:.1f}× |"
    family = (tmp_path / "dit_scaling_figure" / "dit-family.md").read_text()
    assert (
        "DiT-XL/2" in family and len(family.strip().splitlines()) == 2 + 4
    )  # header, rule, 4 sizes
    # the table reports the parameters the model really has (meta device: no memory)
    xl = f"{count_parameters(build_dit('DiT-XL/2')):,}"
    assert xl in family
