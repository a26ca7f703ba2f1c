"""Tiny random checkpoints of the production model architectures, built locally for tests and benchmarks.

The real PaddleOCR-VL-0.9B weights cannot be downloaded in CI. A tiny random checkpoint of the exact
architecture (transformers' ``PaddleOCRVLForConditionalGeneration``, saved in the published weight layout
that vLLM's ``paddleocr_vl.py`` loads) exercises every code path: config parsing, transformers' own
``PaddleOCRVLProcessor`` / image processor, the chat template, the vision tower, the projector, the
ERNIE-4.5 text model with M-RoPE, and continuous batching. Its outputs are gibberish.

Build it with the one documented command::

    python -m loadtest.tiny_models DIR [--seed N]

or from Python with :func:`build_tiny_paddleocr_vl`. The build is deterministic (byte-identical files for a
given seed and the same torch / transformers / tokenizers versions) and idempotent: a directory that
already holds the same build is left untouched. Heavy imports (torch, transformers, tokenizers) happen
inside the builder, so importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from loadtest.checkpoint_builds import build_checkpoint

# Bump when anything below changes what gets written: an existing build with another recipe is rebuilt.
RECIPE_VERSION = 1

# Token ids are fixed (the model config refers to them); the tokenizer puts these first, in this order.
SPECIAL_TOKENS = [
    "<unk>",  # 0, also padding
    "<|begin_of_sentence|>",  # 1, bos; the chat template starts every prompt with it
    "</s>",  # 2, eos: end of the answer
    "<|end_of_sentence|>",  # 3, ends an assistant turn inside a multi-turn history
    "<|IMAGE_START|>",  # 4
    "<|IMAGE_PLACEHOLDER|>",  # 5, image_token_id: vLLM expands it to one token per merged 2x2 patch group
    "<|IMAGE_END|>",  # 6
    "<|VIDEO_PLACEHOLDER|>",  # 7, the config names a video token; never used by this service
]
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
IMAGE_START_ID, IMAGE_TOKEN_ID, IMAGE_END_ID, VIDEO_TOKEN_ID = 4, 5, 6, 7

VOCAB_SIZE = 1024
WEIGHT_STD = 0.3  # with 0.02, greedy decoding repeats one token whatever the image

# The shape: vision hidden 64, 2 layers, 4 heads; projector (64*2*2=256) -> 256 -> 64; text hidden 64,
# 2 layers, 4 query / 2 key-value heads, head size 32 (vLLM's CPU attention rejects 16), mrope sections
# summing to head_size / 2.
VISION_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_channels": 3,
    "image_size": 384,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
}
TEXT_CONFIG = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [4, 6, 6]},
    "use_bias": False,
    "tie_word_embeddings": True,
    "pad_token_id": PAD_ID,
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
}
# The real model's image-processor values.
IMAGE_PROCESSOR = {
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "patch_size": 14,
    "merge_size": 2,
    "temporal_patch_size": 1,
    "min_pixels": 147384,
    "max_pixels": 2822400,
}

# Renders, for one image and the prompt "OCR:",
# "<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>OCR:\nAssistant: ".
# It loops over message['content'] directly, so vLLM detects that it takes OpenAI-style content parts
# (images first, then the text, as in the published template); plain string content is accepted too.
_TEXT_PARTS = (
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'text' -%}{{- content['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
)
CHAT_TEMPLATE = (
    "{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = true -%}{%- endif -%}"
    "{{- '<|begin_of_sentence|>' -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}" + _TEXT_PARTS + "{{- '\\n' -}}"
    "{%- elif message['role'] == 'user' -%}{{- 'User: ' -}}"
    "{%- if message['content'] is not string -%}{%- for content in message['content'] -%}"
    "{%- if content['type'] in ['image', 'image_url', 'image_pil'] -%}"
    "{{- '<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>' -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}" + _TEXT_PARTS + "{{- '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- 'Assistant: ' -}}" + _TEXT_PARTS + "{{- '<|end_of_sentence|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant: ' -}}{%- endif -%}"
)

# Training text for the byte-level BPE (fixed, so the tokenizer does not depend on the weight seed).
_CORPUS_WORDS = (
    "the of and to in is for on with as by that this from are be at or an it which we table figure text "
    "title header footer page section chapter abstract introduction method result conclusion reference "
    "equation formula chart document layout reading order paragraph line column row cell total number "
    "value date name price amount report revenue cost year month day data model image recognition "
    "OCR Table Recognition Chart Formula User Assistant answer question summary list item note "
    "<table> </table> <tr> </tr> <td> </td> <fcel> <ecel> <nl> \\frac \\sum \\int \\alpha \\beta "
    "0 1 2 3 4 5 6 7 8 9 10 100 2024 2025 % $ . , ; : ! ? ( ) [ ] { } - + = / * # | _ \" '"
).split()


def _corpus() -> list[str]:
    rng = random.Random(20251016)
    lines = [" ".join(_CORPUS_WORDS)]
    for _ in range(400):
        lines.append(" ".join(rng.choice(_CORPUS_WORDS) for _ in range(rng.randint(4, 16))))
    # Random pseudo-words so that training reaches the full vocabulary size.
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for _ in range(400):
        lines.append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(8)))
    return lines


def _recipe(seed: int) -> dict:
    return {
        "recipe_version": RECIPE_VERSION,
        "seed": seed,
        "weight_std": WEIGHT_STD,
        "vision_config": VISION_CONFIG,
        "text_config": TEXT_CONFIG,
        "image_processor": IMAGE_PROCESSOR,
        "special_tokens": SPECIAL_TOKENS,
        "chat_template": CHAT_TEMPLATE,
    }


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    vocab = tokenizer.get_vocab()
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        assert vocab[token] == expected_id, (token, vocab[token])
    assert tokenizer.get_vocab_size() <= VOCAB_SIZE, tokenizer.get_vocab_size()
    return tokenizer


def _write_checkpoint(out: Path, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        PaddleOCRVLConfig,
        PaddleOCRVLForConditionalGeneration,
        PaddleOCRVLProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.paddleocr_vl.image_processing_pil_paddleocr_vl import PaddleOCRVLImageProcessorPil

    config = PaddleOCRVLConfig(
        vision_config=dict(VISION_CONFIG),
        text_config=json.loads(json.dumps(TEXT_CONFIG)),
        image_token_id=IMAGE_TOKEN_ID,
        video_token_id=VIDEO_TOKEN_ID,
        vision_start_token_id=IMAGE_START_ID,
        vision_end_token_id=IMAGE_END_ID,
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
    )
    config.architectures = ["PaddleOCRVLForConditionalGeneration"]
    config.dtype = "float32"

    model = PaddleOCRVLForConditionalGeneration(config).to(torch.float32).eval()
    # Overwrite every parameter from our own generator, in name order: independent of transformers'
    # initialisers and of the global RNG state.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        params = dict(model.named_parameters())  # tied lm_head is listed once, as the embedding
        for name in sorted(params):
            param = params[name]
            if "norm" in name.rsplit(".", 2)[-2]:  # layer_norm1, input_layernorm, pre_norm, norm, ...
                # LayerNorm / RMSNorm: weight 1, bias 0 (random signs would make activations explode).
                param.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float32) * WEIGHT_STD)
    model.generation_config = GenerationConfig(
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, use_cache=True
    )
    model.save_pretrained(out, safe_serialization=True)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_build_tokenizer(),
        bos_token="<|begin_of_sentence|>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        extra_special_tokens={"image_token": "<|IMAGE_PLACEHOLDER|>"},
        model_max_length=TEXT_CONFIG["max_position_embeddings"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    assert tokenizer.image_token_id == IMAGE_TOKEN_ID
    image_processor = PaddleOCRVLImageProcessorPil(**IMAGE_PROCESSOR)
    processor = PaddleOCRVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)

    # transformers 5.19 saves the named extra token as a top-level "image_token" key and an empty
    # "extra_special_tokens" list; write it the way the published checkpoint declares it instead.
    tokenizer_config_path = out / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text())
    tokenizer_config.pop("image_token", None)
    tokenizer_config["extra_special_tokens"] = {"image_token": "<|IMAGE_PLACEHOLDER|>"}
    tokenizer_config_path.write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n")

    # Checks that the written directory loads back as vLLM will load it.
    loaded = PaddleOCRVLProcessor.from_pretrained(out)
    assert loaded.image_token == "<|IMAGE_PLACEHOLDER|>" and loaded.image_token_id == IMAGE_TOKEN_ID
    assert [loaded.tokenizer.bos_token_id, loaded.tokenizer.eos_token_id] == [BOS_ID, EOS_ID]


def build_tiny_paddleocr_vl(directory: Path, seed: int = 0) -> Path:
    """Writes a complete tiny random PaddleOCR-VL checkpoint into ``directory`` and returns it.

    The directory holds ``config.json``, ``generation_config.json``, ``model.safetensors`` (published
    layout: ``visual.vision_model.*``, ``mlp_AR.*``, ``model.*``; embeddings tied), the byte-level BPE
    tokenizer (``tokenizer.json``, ``tokenizer_config.json`` declaring the image token),
    ``processor_config.json`` with the image-processor values, ``chat_template.jinja`` and a manifest.
    Loadable by vLLM (``PaddleOCRVLForConditionalGeneration``, no remote code) and by transformers.

    Idempotent: if ``directory`` already holds this build (same recipe and seed, files unchanged), nothing
    is written. Otherwise it is (re)built in a temporary sibling and swapped in, so a reader never sees a
    half-written checkpoint; concurrent builders of one directory are serialised with a lock file.
    """
    return build_checkpoint(directory, _recipe(seed), lambda out: _write_checkpoint(out, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.tiny_models",
        description="Build a tiny random PaddleOCR-VL checkpoint (exact architecture, gibberish output) for tests.",
    )
    parser.add_argument("directory", type=Path, help="where to write the checkpoint (created or replaced)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    args = parser.parse_args(argv)
    out = build_tiny_paddleocr_vl(args.directory, seed=args.seed)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
