"""Tiny random checkpoints of the layout-analysis models, built locally for tests and benchmarks.

Three transformers architectures, each with small dimensions and random weights (outputs are meaningless):

* ``PPDocLayoutV2ForObjectDetection`` (``pp_doclayout_v2``): RT-DETR layout detector + reading-order head,
* ``PPDocLayoutV3ForObjectDetection`` (``pp_doclayout_v3``): layout detector with masks and an order head,
* ``PPLCNetForImageClassification`` (``pp_lcnet``): the document-orientation classifier (0/90/180/270).

Build them with the one documented command::

    python -m loadtest.tiny_layout_models DIR [--seed N]

which writes ``DIR/tiny-pp-doclayout-v2``, ``DIR/tiny-pp-doclayout-v3`` and ``DIR/tiny-pp-lcnet``, or from
Python with :func:`build_tiny_pp_doclayout_v2`, :func:`build_tiny_pp_doclayout_v3` and
:func:`build_tiny_pp_lcnet`. Each directory holds ``config.json``, ``model.safetensors``,
``preprocessor_config.json`` (the published checkpoints' values, written by hand: the image-processor
classes import torchvision) and a manifest.

The configs keep everything the published checkpoints' configs carry that a consumer may read (model type,
25 layout labels, ``class_thresholds``, ``class_order``, reading-order sub-config, 4 orientation labels,
``hidden_dropout_prob``); sizes are shrunk, and two values differ from the published models:
PP-DocLayoutV3 uses 100 queries instead of 300 (its per-query 200x200 mask work makes 300 queries cost
~0.45 s per image on CPU; PP-DocLayoutV2 keeps 300) and ``mask_enhanced=False`` (see the config below).

Weights: every parameter is drawn from ``torch.Generator().manual_seed(seed)`` in name order (norms are the
identity, other weights N(0, 1/fan_in)), independent of transformers' initialisers and of the global RNG.
Random weights alone make every query and every image look alike, so a few layers are then calibrated on
fixed synthetic inputs (a document page, noise, a blank page; for PP-LCNet also the page rotated and
random tensors):

* the detectors' encoder-output projection (``enc_output``) is whitened: otherwise all queries are nearly
  identical;
* the detectors' final class head gets orthonormal weight rows, partly whitened inputs and rows orthogonal to
  the per-image mean of its input, so that classes and scores vary across queries (mostly one best class per
  query); its bias is set so that about a quarter of the queries score above 0.5 on the calibration pages
  (some detections kept, some dropped, many labels);
* PP-DocLayoutV3: a constant mask prototype makes about a fifth of the mask pixels positive (sparse masks,
  real polygons);
* PP-LCNet: the classifier head is treated the same way (centred on the mean image), so that inputs get
  different angles.

Values derived from these forward passes are rounded to a coarse grid before they are written.

The build is deterministic (byte-identical files for a given seed and the same torch / transformers versions)
and idempotent: a directory that already holds the same build is left untouched. Heavy imports (torch,
transformers) happen inside the builders, so importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layout.labels import DEFAULT_THRESHOLDS, PP_DOCLAYOUT_LABELS
from loadtest.checkpoint_builds import build_checkpoint

# Bump when anything below changes what gets written: an existing build with another recipe is rebuilt.
RECIPE_VERSION = 1

# The 25 PP-DocLayoutV2/V3 detector classes, in class-id order, and the published per-class thresholds.
LAYOUT_LABELS = PP_DOCLAYOUT_LABELS
CLASS_THRESHOLDS = tuple(DEFAULT_THRESHOLDS[i] for i in range(len(LAYOUT_LABELS)))
# Detector class id -> class id of the reading-order head (vocabulary of reading_order_config.num_classes = 20).
# The published PP-DocLayoutV2 config's values (PaddleX pdparams2safetensors/model_config.py, _DOCLAYOUTV2_CONFIG).
CLASS_ORDER = (4, 2, 14, 1, 5, 7, 8, 6, 11, 11, 9, 13, 10, 10, 1, 2, 3, 0, 2, 2, 12, 1, 2, 15, 6)
ORIENTATION_LABELS = ("0", "90", "180", "270")

# A tiny HGNetV2 backbone: stem 8 channels, stage outputs 16/32/48/64 at strides 4/8/16/32.
_HGNET_STAGE_OUT = [16, 32, 48, 64]
_HGNET = {
    "model_type": "hgnet_v2",
    "arch": "L",
    "freeze_stem_only": True,
    "freeze_at": 0,
    "freeze_norm": True,
    "lr_mult_list": [0, 0.05, 0.05, 0.05, 0.05],
    "embedding_size": 8,
    "stem_channels": [3, 8, 8],
    "stem_strides": [2, 1, 1, 2, 1],
    "hidden_sizes": _HGNET_STAGE_OUT,
    "depths": [1, 1, 1, 1],
    "stage_in_channels": [8, 16, 32, 48],
    "stage_mid_channels": [8, 8, 16, 16],
    "stage_out_channels": _HGNET_STAGE_OUT,
    "stage_num_blocks": [1, 1, 1, 1],
    "stage_numb_of_layers": [2, 2, 2, 2],
    "stage_kernel_size": [3, 3, 5, 5],
    "stage_light_block": [False, False, True, True],
    "stage_downsample": [False, True, True, True],
    "stage_downsample_strides": [2, 2, 2, 2],
}
# Shared detector sizes: hidden 32, 2 heads, 2 decoder layers.
_DETR = {
    "encoder_in_channels": _HGNET_STAGE_OUT[1:],
    "feat_strides": [8, 16, 32],
    "encoder_hidden_dim": 32,
    "encoder_ffn_dim": 64,
    "encoder_attention_heads": 2,
    "encoder_layers": 1,
    "encode_proj_layers": [2],
    "d_model": 32,
    "decoder_in_channels": [32, 32, 32],
    "decoder_ffn_dim": 64,
    "decoder_layers": 2,
    "decoder_attention_heads": 2,
    "decoder_n_points": 4,
    "num_feature_levels": 3,
}
PP_DOCLAYOUT_V2_CONFIG = {
    **_DETR,
    "backbone_config": {**_HGNET, "return_idx": [1, 2, 3], "out_features": ["stage2", "stage3", "stage4"]},
    "num_queries": 300,
    "reading_order_config": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "coordinate_size": 8,
        "shape_size": 8,
        "global_pointer_head_size": 16,
        "num_classes": 20,  # published value; CLASS_ORDER maps into it
        "max_position_embeddings": 514,  # must exceed num_queries + 3
        "max_2d_position_embeddings": 1024,  # boxes are fed in [0, 1000]
    },
}
PP_DOCLAYOUT_V3_CONFIG = {
    **_DETR,
    "backbone_config": {
        **_HGNET,
        "return_idx": [0, 1, 2, 3],
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
    },
    "num_queries": 100,
    "x4_feat_dim": _HGNET_STAGE_OUT[0],
    "mask_feature_channels": [8, 8],
    "num_prototypes": 8,
    "global_pointer_head_size": 16,
    # The published model derives the decoder's initial boxes from the encoder masks (mask_enhanced=True).
    # Random masks follow image edges, so every box would span the page or collapse to a line; the tiny
    # model takes them from the encoder box head + anchors instead (as PP-DocLayoutV2 does). Same weights
    # and output fields; only mask_to_box_coordinate is skipped.
    "mask_enhanced": False,
}
PP_LCNET_CONFIG = {
    "scale": 0.25,  # channels 8..128 instead of 16..512
    "class_expand": 32,
    "block_configs": [
        [[3, 16, 32, 1, False]],
        [[3, 32, 64, 2, False]],
        [[3, 64, 128, 2, False]],
        [[3, 128, 256, 2, False], [5, 256, 256, 1, False]],
        [[5, 256, 512, 2, True]],
    ],
    # Published PP-LCNet_x1_0_doc_ori values.
    "reduction": 4,
    "hidden_act": "hardswish",
    "hidden_dropout_prob": 0.2,
}

# preprocessor_config.json of the published checkpoints (PaddleX pdparams2safetensors/inference_meta.py,
# which mirrors the official Hugging Face repos; it equals the image-processor class defaults).
_VALID_PROCESSOR_KEYS = [
    "images",
    "do_resize",
    "size",
    "resample",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "return_tensors",
    "data_format",
    "input_data_format",
]


def _layout_preprocessor(image_processor_type: str) -> dict:
    # Resize (bicubic, no antialias) to 800x800 ignoring aspect ratio, x/255, mean 0, std 1, RGB.
    return {
        "_valid_processor_keys": _VALID_PROCESSOR_KEYS,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_processor_type": image_processor_type,
        "image_mean": [0, 0, 0],
        "image_std": [1, 1, 1],
        "rescale_factor": 1.0 / 255,
        "resample": 3,
        "size": {"height": 800, "width": 800},
    }


PP_DOCLAYOUT_V2_PREPROCESSOR = _layout_preprocessor("PPDocLayoutV2ImageProcessor")
PP_DOCLAYOUT_V3_PREPROCESSOR = _layout_preprocessor("PPDocLayoutV3ImageProcessor")
# Short side to 256 (bilinear), centre crop 224, x/255, normalise with these per-RGB-channel values, then the
# channels are flipped to BGR.
PP_LCNET_PREPROCESSOR = {
    "_valid_processor_keys": _VALID_PROCESSOR_KEYS,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_processor_type": "PPLCNetImageProcessor",
    "model_input_names": ["pixel_values", "original_image_size"],
    "image_mode": "BGR",
    "channel_first": False,
    "image_mean": [0.406, 0.456, 0.485],
    "image_std": [0.225, 0.224, 0.229],
    "rescale_factor": 1.0 / 255,
    "resample": 2,
    "keep_keys": ["image", "shape", "polys", "ignore_tags"],
    "do_center_crop": True,
    "crop_size": 224,
    "resize_short": 256,
}

IMAGE_SIZE = 800  # layout detectors' input side
# Calibration targets (see the module docstring).
TARGET_QUERY_FRACTION = 0.25
TARGET_MASK_FRACTION = 0.2
LOGIT_STD = 1.5  # detectors: std of a class logit over queries
ORIENTATION_LOGIT_STD = 2.0  # PP-LCNet: std of a class logit over images
_CALIBRATION_SEED = 20260101


# --------------------------------------------------------------------------------------------- helpers


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------------------- weights


def _randomize(model, seed: int) -> None:
    """Overwrites every parameter from a generator seeded with ``seed``, in name order.

    Norm layers (LayerNorm, BatchNorm and frozen BatchNorm, including their running statistics) become the
    identity; every other weight is N(0, 1/fan_in) (fan_in = product of all but the first dimension), every
    other 1-d parameter (biases) N(0, 0.02^2). Tied parameters are listed once.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    norm_prefixes = []
    with torch.no_grad():
        for name, module in model.named_modules():
            is_norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)) or (
                hasattr(module, "running_mean") and hasattr(module, "running_var")  # frozen batch norm
            )
            if not is_norm:
                continue
            norm_prefixes.append(f"{name}.")
            for attr, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
                tensor = getattr(module, attr, None)
                if tensor is not None:
                    tensor.fill_(value)
        params = dict(model.named_parameters())
        for name in sorted(params):
            if any(name.startswith(prefix) for prefix in norm_prefixes):
                continue
            param = params[name]
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.dim() >= 2:
                fan_in = max(1, param[0].numel())
                param.copy_(noise / fan_in**0.5)
            else:
                param.copy_(noise * 0.02)


def _calibration_pages():
    """Three fixed 800x800 pages in the detectors' input space ([0, 1] RGB): a synthetic document (white,
    two columns of dark text lines, a grey figure, a title), uniform noise, and a blank white page."""
    import torch

    generator = torch.Generator().manual_seed(_CALIBRATION_SEED)
    size = IMAGE_SIZE
    doc = torch.ones(3, size, size)
    doc[:, 60:100, 120:680] = 0.1  # title
    for column in (0, 1):
        x0 = 80 + column * 340
        for row in range(22):
            y0 = 140 + row * 18
            length = int(260 + 40 * torch.rand((), generator=generator))
            doc[:, y0 : y0 + 9, x0 : x0 + length] = 0.15
    doc[:, 560:740, 100:700] = 0.6  # figure
    noise = torch.rand(3, size, size, generator=generator)
    blank = torch.ones(3, size, size)
    return torch.stack([doc, noise, blank])


def _orientation_pages():
    """Fourteen fixed 224x224 PP-LCNet inputs (normalised, BGR): the synthetic document rotated by
    0/90/180/270 degrees, uniform noise, a blank page and eight N(0, 1) tensors."""
    import torch

    doc, noise, blank = torch.nn.functional.interpolate(_calibration_pages(), size=(224, 224), mode="area")
    mean = torch.tensor(PP_LCNET_PREPROCESSOR["image_mean"]).view(3, 1, 1)
    std = torch.tensor(PP_LCNET_PREPROCESSOR["image_std"]).view(3, 1, 1)
    rgb = [torch.rot90(doc, k, dims=(1, 2)) for k in range(4)] + [noise, blank]
    pages = torch.stack([((image - mean) / std).flip(0) for image in rgb])
    generator = torch.Generator().manual_seed(_CALIBRATION_SEED)
    return torch.cat([pages, torch.randn(8, 3, 224, 224, generator=generator)])


def _rounded(tensor, step: float = 2.0**-10):
    """Values derived from forward passes are rounded to a coarse grid, so that the written weights do not
    depend on floating-point noise (thread count, CPU kernels)."""
    import torch

    return torch.round(tensor.double() / step).to(torch.float32) * step


def _quantile(values, q: float) -> float:
    import torch

    flat = values.detach().flatten().double()
    flat = flat[:: max(1, flat.numel() // 2_000_000)]
    return float(_rounded(torch.quantile(flat, q), 2.0**-6))


def _module_input(model, module, pixel_values):
    """The first positional input of ``module`` during ``model(pixel_values=...)``."""
    import torch

    captured = []
    handle = module.register_forward_hook(lambda _module, args, _output: captured.append(args[0].detach()))
    try:
        with torch.no_grad():
            model(pixel_values=pixel_values)
    finally:
        handle.remove()
    return captured[-1]


def _whiten_input(model, linear, pixel_values) -> None:
    """Makes ``linear`` see whitened, centred inputs: W <- W C^-1/2 (rescaled to the old norm), b = -W mean,
    with C and mean estimated on the non-zero input vectors. Random conv stacks give features that are
    nearly collinear across positions; without this, every detector query looks the same."""
    import torch

    features = _module_input(model, linear, pixel_values).reshape(-1, linear.in_features).double()
    features = features[features.abs().sum(-1) > 0]
    mean = features.mean(0)
    covariance = torch.cov(features.T) + 1e-6 * torch.eye(features.shape[1], dtype=torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    weight = linear.weight.double()
    whitened = weight @ ((eigenvectors / eigenvalues.sqrt()) @ eigenvectors.T)
    whitened *= weight.norm() / whitened.norm()
    with torch.no_grad():
        linear.weight.copy_(_rounded(whitened))
        linear.bias.copy_(_rounded(-(whitened @ mean)))


def _calibrate_head(
    model, head, pixel_values, logit_std: float, score_fraction: float | None, rounds: int = 1, per_image: bool = True
) -> None:
    """Makes the linear ``head``'s outputs vary across queries (or images) and not across classes.

    The weight rows are made orthonormal and its input partly whitened (W <- W (C + c I)^-1/2, C the
    covariance of the input around the per-image mean, or around the overall mean if not ``per_image``, c its
    mean eigenvalue), so that a query's class logits are nearly uncorrelated (mostly one best class, not
    many); the rows are made orthogonal to those means, so that every image gets a similar spread of scores;
    then the weight is scaled so that a logit's standard deviation is ``logit_std``. This is done ``rounds``
    times (where the head also selects the queries, its inputs move). With ``score_fraction``, the bias
    becomes the one constant for which that fraction of the queries' best-class probability exceeds 0.5;
    otherwise it is zero.
    """
    import torch

    with torch.no_grad():
        head.bias.zero_()
        for _ in range(rounds):
            features = _module_input(model, head, pixel_values).double()
            features = features.reshape(features.shape[0] if per_image else 1, -1, features.shape[-1])
            means = features.mean(1)  # (groups, D)
            centred = (features - means[:, None]).reshape(-1, features.shape[-1])
            covariance = centred.T @ centred / max(1, centred.shape[0] - 1)
            covariance += covariance.trace() / covariance.shape[0] * torch.eye(covariance.shape[0], dtype=torch.float64)
            eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
            rows, _ = torch.linalg.qr(head.weight.double().T)  # orthonormal weight rows
            weight = rows.T @ ((eigenvectors / eigenvalues.sqrt()) @ eigenvectors.T)
            basis, _ = torch.linalg.qr(means.T)
            weight = weight - (weight @ basis) @ basis.T
            logits = centred @ weight.T
            head.weight.copy_(_rounded(weight * (logit_std / logits.std(0).mean())))
        if score_fraction is not None:
            best = model(pixel_values=pixel_values).logits.max(dim=-1).values
            head.bias.fill_(-_quantile(best, 1.0 - score_fraction))


def _save(model, out: Path) -> None:
    model.config.dtype = "float32"
    model.save_pretrained(out, safe_serialization=True)


def _check_loads(out: Path, auto_class_name: str) -> None:
    import transformers

    auto_class = getattr(transformers, auto_class_name)
    _, info = auto_class.from_pretrained(out, output_loading_info=True)
    problems = {key: value for key, value in info.items() if value and key != "error_msgs"}
    if problems or info.get("error_msgs"):
        raise RuntimeError(f"{out} does not load cleanly: {info}")


def _layout_label_kwargs() -> dict:
    return {
        "id2label": dict(enumerate(LAYOUT_LABELS)),
        "label2id": {label: index for index, label in enumerate(LAYOUT_LABELS)},
        "class_thresholds": list(CLASS_THRESHOLDS),
        "class_order": list(CLASS_ORDER),
    }


# ----------------------------------------------------------------------------------------- builders


def _write_pp_doclayout_v2(out: Path, seed: int) -> None:
    import torch
    from transformers import PPDocLayoutV2Config, PPDocLayoutV2ForObjectDetection

    config = PPDocLayoutV2Config(**json.loads(json.dumps(PP_DOCLAYOUT_V2_CONFIG)), **_layout_label_kwargs())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PPDocLayoutV2ForObjectDetection(config).to(torch.float32).eval()
    _randomize(model, seed)
    decoder = model.model.decoder
    with torch.no_grad():
        for head in decoder.bbox_embed:  # refinements at half scale: boxes stay near their proposals
            head.layers[-1].weight.mul_(0.5)
    pages = _calibration_pages()
    _whiten_input(model, model.model.enc_output[0], pages)
    # Only the last decoder layer's head makes the output logits; the others get its bias.
    _calibrate_head(model, decoder.class_embed[-1], pages, LOGIT_STD, TARGET_QUERY_FRACTION)
    with torch.no_grad():
        for head in decoder.class_embed[:-1]:
            head.bias.copy_(decoder.class_embed[-1].bias)
    _save(model, out)
    _write_json(out / "preprocessor_config.json", PP_DOCLAYOUT_V2_PREPROCESSOR)
    _check_loads(out, "AutoModelForObjectDetection")


def _write_pp_doclayout_v3(out: Path, seed: int) -> None:
    import torch
    from transformers import PPDocLayoutV3Config, PPDocLayoutV3ForObjectDetection

    config = PPDocLayoutV3Config(**json.loads(json.dumps(PP_DOCLAYOUT_V3_CONFIG)), **_layout_label_kwargs())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PPDocLayoutV3ForObjectDetection(config).to(torch.float32).eval()
    _randomize(model, seed)
    inner = model.model
    pages = _calibration_pages()
    with torch.no_grad():
        # Box refinements (tied with enc_bbox_head) at quarter scale: proposals stay near anchor sizes.
        inner.decoder.bbox_embed.layers[-1].weight.mul_(0.25)
    _whiten_input(model, inner.enc_output[0], pages)
    with torch.no_grad():
        # Mask logits are query_embed . prototypes. Prototype 0 becomes the constant 1 and query component 0
        # the constant -k: k shifts every mask logit, chosen so that TARGET_MASK_FRACTION of pixels are > 0.
        prototype_conv = inner.encoder.encoder_mask_output.conv
        prototype_conv.weight[0].zero_()
        prototype_conv.bias[0] = 1.0
        query_out = inner.mask_query_head.layers[-1]
        query_out.weight[0].zero_()
        query_out.bias[0] = 0.0
        masks = model(pixel_values=pages).out_masks
        query_out.bias[0] = -_quantile(masks, 1.0 - TARGET_MASK_FRACTION)
    # decoder.class_embed is tied with enc_score_head, which selects the queries: two rounds.
    _calibrate_head(model, inner.decoder.class_embed, pages, LOGIT_STD, TARGET_QUERY_FRACTION, rounds=2)
    _save(model, out)
    _write_json(out / "preprocessor_config.json", PP_DOCLAYOUT_V3_PREPROCESSOR)
    _check_loads(out, "AutoModelForObjectDetection")


def _write_pp_lcnet(out: Path, seed: int) -> None:
    import torch
    from transformers import PPLCNetConfig, PPLCNetForImageClassification

    config = PPLCNetConfig(
        **json.loads(json.dumps(PP_LCNET_CONFIG)),
        id2label=dict(enumerate(ORIENTATION_LABELS)),
        label2id={label: index for index, label in enumerate(ORIENTATION_LABELS)},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PPLCNetForImageClassification(config).to(torch.float32).eval()
    _randomize(model, seed)
    _calibrate_head(model, model.head, _orientation_pages(), ORIENTATION_LOGIT_STD, None, per_image=False)
    _save(model, out)
    _write_json(out / "preprocessor_config.json", PP_LCNET_PREPROCESSOR)
    _check_loads(out, "AutoModelForImageClassification")


def _recipe(name: str, seed: int, config: dict, preprocessor: dict) -> dict:
    return {
        "recipe_version": RECIPE_VERSION,
        "model": name,
        "seed": seed,
        "config": config,
        "labels": list(ORIENTATION_LABELS if name == "pp_lcnet" else LAYOUT_LABELS),
        "class_thresholds": list(CLASS_THRESHOLDS),
        "class_order": list(CLASS_ORDER),
        "calibration": [TARGET_QUERY_FRACTION, TARGET_MASK_FRACTION, LOGIT_STD, ORIENTATION_LOGIT_STD],
        "preprocessor": preprocessor,
    }


def build_tiny_pp_doclayout_v2(directory: Path, seed: int = 0) -> Path:
    """Writes a tiny random PP-DocLayoutV2 checkpoint (``PPDocLayoutV2ForObjectDetection``, 25 labels,
    300 queries, reading-order head) into ``directory`` and returns it. Idempotent; see the module docstring."""
    recipe = _recipe("pp_doclayout_v2", seed, PP_DOCLAYOUT_V2_CONFIG, PP_DOCLAYOUT_V2_PREPROCESSOR)
    return build_checkpoint(directory, recipe, lambda out: _write_pp_doclayout_v2(out, seed))


def build_tiny_pp_doclayout_v3(directory: Path, seed: int = 0) -> Path:
    """Writes a tiny random PP-DocLayoutV3 checkpoint (``PPDocLayoutV3ForObjectDetection``, 25 labels,
    100 queries, masks at 1/4 resolution, order head) into ``directory`` and returns it. Idempotent."""
    recipe = _recipe("pp_doclayout_v3", seed, PP_DOCLAYOUT_V3_CONFIG, PP_DOCLAYOUT_V3_PREPROCESSOR)
    return build_checkpoint(directory, recipe, lambda out: _write_pp_doclayout_v3(out, seed))


def build_tiny_pp_lcnet(directory: Path, seed: int = 0) -> Path:
    """Writes a tiny random PP-LCNet document-orientation classifier (``PPLCNetForImageClassification``,
    id2label 0/90/180/270) into ``directory`` and returns it. Idempotent."""
    recipe = _recipe("pp_lcnet", seed, PP_LCNET_CONFIG, PP_LCNET_PREPROCESSOR)
    return build_checkpoint(directory, recipe, lambda out: _write_pp_lcnet(out, seed))


def _write_full_size_pp_doclayout_v2(out: Path, seed: int) -> None:
    import torch
    from transformers import PPDocLayoutV2Config, PPDocLayoutV2ForObjectDetection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PPDocLayoutV2ForObjectDetection(PPDocLayoutV2Config(**_layout_label_kwargs())).to(torch.float32).eval()
    _save(model, out)
    _write_json(out / "preprocessor_config.json", PP_DOCLAYOUT_V2_PREPROCESSOR)


def build_full_size_pp_doclayout_v2(directory: Path, seed: int = 0) -> Path:
    """PP-DocLayoutV2 at its published size (transformers' default config, 54M parameters, ~210 MB) with
    transformers' random initialisation: the real model's compute cost, for benchmarks. Idempotent."""
    recipe = _recipe("pp_doclayout_v2_full_size", seed, {}, PP_DOCLAYOUT_V2_PREPROCESSOR)
    return build_checkpoint(directory, recipe, lambda out: _write_full_size_pp_doclayout_v2(out, seed))


BUILDERS = {
    "tiny-pp-doclayout-v2": build_tiny_pp_doclayout_v2,
    "tiny-pp-doclayout-v3": build_tiny_pp_doclayout_v3,
    "tiny-pp-lcnet": build_tiny_pp_lcnet,
}


def build_all(directory: Path, seed: int = 0) -> dict[str, Path]:
    """Builds the three checkpoints into ``directory/<name>`` (names are the keys of ``BUILDERS``)."""
    return {name: build(Path(directory) / name, seed=seed) for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.tiny_layout_models",
        description="Build tiny random PP-DocLayoutV2, PP-DocLayoutV3 and PP-LCNet (doc orientation) checkpoints.",
    )
    parser.add_argument("directory", type=Path, help=f"parent directory; gets {', '.join(BUILDERS)}")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    args = parser.parse_args(argv)
    for path in build_all(args.directory, seed=args.seed).values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
