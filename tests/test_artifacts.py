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


def _run_flow_path(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from artifacts.sd3_and_flux import flow_path
    from sitetools.pipeline import Context

    ctx = Context("sd3-flow-path", tmp_path, torch.device("cpu"), "cpu", 3, root=tmp_path)
    flow_path.sd3_flow_path(ctx, times=[0.0, 0.5, 1.0], pixels=3)
    return ctx


def test_flow_path_figure_follows_one_scene_on_a_straight_line(tmp_path):
    import json

    from snippets.digits.scenes import SCENE_TEMPLATES

    ctx = _run_flow_path(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "path.png",
        "path.json",
    }  # the runner writes path.md
    record = json.loads((tmp_path / "path.json").read_text())
    assert record["largest_gap"] < 1e-9
    assert len(record["caption"].split()) == len(SCENE_TEMPLATES[0].split())
    (figure,) = ctx.figures
    assert record["caption"] in figure.alt and "t = 0, 0.5, 1" in figure.alt


def test_flow_path_figure_refuses_a_path_that_is_not_straight(tmp_path, monkeypatch):
    import pytest

    from artifacts.sd3_and_flux import flow_path

    def curved(x0, noise, t):
        t = t.view(-1, *[1] * (x0.dim() - 1))
        return (1 - t) ** 2 * x0 + t * noise

    monkeypatch.setattr(flow_path, "interpolate", curved)
    with pytest.raises(AssertionError, match="not a straight line"):
        _run_flow_path(tmp_path)
