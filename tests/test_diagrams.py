"""The architecture diagrams: each producer draws what the code's configuration says.

Every producer runs on a temporary Context; the SVG must parse, carry its alt text, stay legible
on a phone, and show the numbers of the configuration it was given: each test changes a
configuration (or a parameter) and finds the new numbers in the drawing.
"""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET
from pathlib import Path

import markdown
import pytest
import torch

from artifacts.diffusion_transformers import block_diagram
from artifacts.sd3_and_flux import mmdit_diagram, pipeline_diagram
from artifacts.sdxl import unet_diagram
from artifacts.svg import MIN_CSS_PX, PHONE_COLUMN
from artifacts.z_image import stack_diagram
from sitetools.pipeline import Context
from snippets.dit import DIT_CONFIGS, DiT
from snippets.sd3 import SD3_MEDIUM, joint_sequence, sd3_medium_steps
from snippets.sdxl import SDXL_BASE_UNET
from snippets.zimage import ZIMAGE_TRANSFORMER_CONFIG, build_zimage_transformer

SVG = "{http://www.w3.org/2000/svg}"


def run(producer, tmp_path: Path, **params) -> tuple[str, Context]:
    """Run ``producer`` on a fresh Context; check its files; return the drawing's text."""
    out = tmp_path / producer.__name__
    out.mkdir()
    ctx = Context(producer.__name__, out, torch.device("cpu"), "cpu", 0, root=tmp_path)
    producer(ctx, **params)
    ctx.write_fragments("cpu")
    (figure,) = ctx.figures
    svg_path = out / figure.filename
    assert svg_path.suffix == ".svg"
    root = ET.parse(svg_path).getroot()
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    # alt text: in the fragment, and the SVG's own description says the same
    assert len(figure.alt) > 200
    assert root.find(f"{SVG}desc").text == figure.alt
    assert root.find(f"{SVG}title").text
    html = markdown.markdown(
        (out / f"{svg_path.stem}.md").read_text(), extensions=["md_in_html", "attr_list"]
    )
    src = f"generated/{producer.__name__}/{figure.filename}"
    assert f'<a href="{src}"><img alt="' in html and f'src="{src}"' in html
    # legible on a phone: the smallest text, scaled to a 390 px screen's column
    width = float(root.get("viewBox").split()[2])
    sizes = [float(t.get("font-size")) for t in root.iter(f"{SVG}text")]
    assert min(sizes) * PHONE_COLUMN / width >= MIN_CSS_PX
    words = " ".join(t.text for t in root.iter(f"{SVG}text"))
    return " ".join(words.replace("\u00a0", " ").split()), ctx


def test_unet_diagram_draws_the_configuration(tmp_path, monkeypatch):
    text, _ = run(unet_diagram.sdxl_unet_diagram, tmp_path, image_size=1024)
    depths = SDXL_BASE_UNET["transformer_layers_per_block"]
    widths = SDXL_BASE_UNET["block_out_channels"]
    side = 1024 // 8
    for level, (kind, channels) in enumerate(
        zip(SDXL_BASE_UNET["down_block_types"], widths, strict=True)
    ):
        assert f"{side >> level} × {side >> level} · {channels} channels" in text
        if kind.startswith("CrossAttn"):
            assert f"after each ResNet: {depths[level]} transformer blocks" in text
    assert f"between the ResNets: {depths[-1]} transformer blocks" in text
    kinds = SDXL_BASE_UNET["down_block_types"] + SDXL_BASE_UNET["up_block_types"]
    assert text.count("no attention") == sum(not k.startswith("CrossAttn") for k in kinds)

    changed = {**SDXL_BASE_UNET, "transformer_layers_per_block": (1, 3, 7)}
    monkeypatch.setattr(unet_diagram, "SDXL_BASE_UNET", changed)
    (tmp_path / "changed").mkdir()
    text, _ = run(unet_diagram.sdxl_unet_diagram, tmp_path / "changed", image_size=512)
    assert "64 × 64 · 320 channels" in text  # 512 px: a 64 x 64 latent
    assert "after each ResNet: 3 transformer blocks" in text
    assert "between the ResNets: 7 transformer blocks" in text
    assert "10 transformer blocks" not in text


@pytest.mark.parametrize("name", ["DiT-XL/2", "DiT-S/4"])
def test_dit_block_diagram_draws_the_configuration(tmp_path, name):
    text, ctx = run(block_diagram.dit_block_diagram, tmp_path, name=name)
    config = DIT_CONFIGS[name]
    side = inspect.signature(DiT).parameters["input_size"].default  # the latent side it builds
    d, tokens = config["hidden_size"], (side // config["patch_size"]) ** 2
    assert f"{name}: {tokens} tokens × {d}, one block of {config['depth']}" in text
    assert f"Linear {d} → 6 × {d} (weights and bias zero at init)" in text
    assert f"self-attention: {config['num_heads']} heads, qkv {d} → {3 * d}" in text
    assert f"MLP {d} → {4 * d} → {d}" in text
    for chunk in ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp"):
        assert chunk in text
    assert "LayerNorm, no learned weights" in text
    assert "The gates start at zero" in text


def test_mmdit_diagram_draws_the_configuration(tmp_path, monkeypatch):
    changed = {**SD3_MEDIUM, "num_attention_heads": 12}
    monkeypatch.setattr(mmdit_diagram, "SD3_MEDIUM", changed)
    text, _ = run(mmdit_diagram.sd3_mmdit_diagram, tmp_path, size=512)
    d = 12 * SD3_MEDIUM["attention_head_dim"]
    tokens = joint_sequence(512, 512)
    assert f"text: {tokens['text']} tokens" in text and f"image: {tokens['image']} tokens" in text
    assert f"joint attention over {tokens['text']} + {tokens['image']} = {tokens['joint']}" in text
    assert f"12 heads of {SD3_MEDIUM['attention_head_dim']}" in text
    for stream in ("txt", "img"):
        assert f"{stream}_mod: {d} → {6 * d}" in text
        assert f"attn.{stream}_qkv: {d} → {3 * d}" in text
        assert f"{stream}_mlp: {d} → {4 * d} → {d}" in text
    assert "two sets of weights" in text


def test_pipeline_diagram_draws_the_steps(tmp_path):
    text, _ = run(pipeline_diagram.sd3_pipeline_diagram, tmp_path, size=512, sampling_steps=10)
    steps = sd3_medium_steps(512, 512, num_inference_steps=10)
    assert len(steps) == 13
    for step in steps:
        shape = "[" + ", ".join(map(str, step.shape)) + "]"
        assert f"{step.number} {step.what} {shape} · from {step.source}" in text
    assert "× 10" in text and "[3, 512, 512]" in text


def test_stack_diagram_draws_the_configuration(tmp_path, monkeypatch):
    text, _ = run(stack_diagram.zimage_stack_diagram, tmp_path, size=1024, caption_tokens=20)
    config = ZIMAGE_TRANSFORMER_CONFIG
    assert f"{config['n_layers']} main blocks: one stream" in text
    assert f"noise_refiner × {config['n_refiner_layers']} modulated by c" in text
    assert f"context_refiner × {config['n_refiner_layers']} no modulation" in text
    assert f"attention: {config['n_heads']} heads of {config['dim'] // config['n_heads']}" in text

    changed = {"n_layers": 12, "n_refiner_layers": 1, "dim": 1920, "n_heads": 15}
    monkeypatch.setattr(
        stack_diagram, "build_zimage_transformer", lambda **_: build_zimage_transformer(**changed)
    )
    (tmp_path / "changed").mkdir()
    text, _ = run(
        stack_diagram.zimage_stack_diagram, tmp_path / "changed", size=512, caption_tokens=40
    )
    assert "12 main blocks: one stream" in text and "noise_refiner × 1" in text
    assert "attention: 15 heads of 128" in text
    assert "caption: 40 tokens" in text and "image: 1024 tokens" in text  # (512 / 16)^2


def test_svg_helper_refuses_text_too_small_for_a_phone():
    from artifacts.svg import Svg

    svg = Svg("t", "d")
    with pytest.raises(ValueError, match="below 10 CSS px"):
        svg.text(0, 0, "tiny", size=svg.min_size - 0.5)
    with pytest.raises(ValueError, match="fit a phone"):
        Svg("t", "d", width=800)
