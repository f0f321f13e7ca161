"""A tiny random-weight Llama model folder that ExLlamaV2 loads for real, built offline in a second.

The GPU tests need a model to load, and may fetch nothing. This writes what exllamav2 0.3.2 reads
(exllamav2/config.py, exllamav2/tokenizer/): config.json (LlamaForCausalLM), FP16 weights in one
model.safetensors under the Hugging Face Llama tensor names, a byte-level BPE tokenizer.json
trained on a few lines of text with <unk>, <s> and </s> as ids 0-2, and tokenizer_config.json
(special tokens and, optionally, a chat template).

Sizes respect the kernels: head_dim 64 (RoPE and flash-attn want an even multiple of 8), hidden
sizes multiples of 128, and a head of 384 rows (a multiple of 32, exllamav2 pads logits to 32)
that is wider than the tokenizer's ~300 tokens, like real models, so the columns past the
tokenizer's vocabulary are exercised as padding. `eos_logit` makes every step's most likely
token the EOS (the embeddings share a direction that the EOS row of the head reads), so a job
ends on its first token, on the stop token: the path where exllamav2 reports the step in `held`.

Needs numpy, tokenizers and safetensors (all there with the gpu extra), imported when called.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

HIDDEN = 256
INTERMEDIATE = 512
LAYERS = 2
HEADS = 4
KV_HEADS = 4
HEAD_DIM = HIDDEN // HEADS
HEAD_ROWS = 384
TOKENIZER_VOCAB = 300
WINDOW = 2048
SPECIAL = ("<unk>", "<s>", "</s>")
BOS_ID, EOS_ID = 1, 2
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = """\
Review the pull request and answer with JSON: a summary and a list of comments.
Each comment has a path, a line, a side, a severity and a body.
def add(a, b):
    return a + b
The function does not check for None before it reads the value.
{"summary": "one bug", "comments": [{"path": "app/util.py", "line": 12, "severity": "major"}]}
Missing tests for the error branch; the lock is released twice on failure.
"""


def _module(name: str) -> Any:
    return importlib.import_module(name)


def build_tiny_llama(
    directory: Path, *, chat_template: bool = True, eos_logit: float = 0.0, seed: int = 0
) -> Path:
    """Write the model folder into `directory` (created if needed) and return it.

    `chat_template`: put a chat template in tokenizer_config.json (else the backend uses its
    plain prompt format). `eos_logit`: > 0 makes EOS the greedy choice at every step (see the
    module docstring). Same `seed`, same weights.
    """
    np = _module("numpy")
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _write_tokenizer(directory, chat_template)
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float) -> Any:
        return (rng.standard_normal(shape) * scale).astype(np.float16)

    embed = rng.standard_normal((HEAD_ROWS, HIDDEN))
    head = rng.standard_normal((HEAD_ROWS, HIDDEN)) * 0.1
    if eos_logit > 0:
        # Every embedding leans along one direction; the small layers keep the lean; the final
        # RMSNorm scales it to ~1 per dimension; the EOS row reads it as a logit of ~eos_logit.
        direction = np.ones(HIDDEN)
        embed = embed * 0.05 + direction
        head[EOS_ID] = direction * (eos_logit / HIDDEN)
    tensors: dict[str, Any] = {
        "model.embed_tokens.weight": embed.astype(np.float16),
        "model.norm.weight": np.ones(HIDDEN, dtype=np.float16),
        "lm_head.weight": head.astype(np.float16),
    }
    for n in range(LAYERS):
        prefix = f"model.layers.{n}."
        tensors |= {
            prefix + "input_layernorm.weight": np.ones(HIDDEN, dtype=np.float16),
            prefix + "post_attention_layernorm.weight": np.ones(HIDDEN, dtype=np.float16),
            prefix + "self_attn.q_proj.weight": normal(HEADS * HEAD_DIM, HIDDEN, scale=0.05),
            prefix + "self_attn.k_proj.weight": normal(KV_HEADS * HEAD_DIM, HIDDEN, scale=0.05),
            prefix + "self_attn.v_proj.weight": normal(KV_HEADS * HEAD_DIM, HIDDEN, scale=0.05),
            prefix + "self_attn.o_proj.weight": normal(HIDDEN, HEADS * HEAD_DIM, scale=0.02),
            prefix + "mlp.gate_proj.weight": normal(INTERMEDIATE, HIDDEN, scale=0.05),
            prefix + "mlp.up_proj.weight": normal(INTERMEDIATE, HIDDEN, scale=0.05),
            prefix + "mlp.down_proj.weight": normal(HIDDEN, INTERMEDIATE, scale=0.02),
        }
    _module("safetensors.numpy").save_file(
        tensors, str(directory / "model.safetensors"), metadata={"format": "pt"}
    )
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "vocab_size": HEAD_ROWS,
        "max_position_embeddings": WINDOW,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    assert vocab <= HEAD_ROWS, f"the tokenizer has {vocab} tokens, more than the head's rows"
    return directory


def tokenizer_vocab_size(directory: Path) -> int:
    """How many tokens the folder's tokenizer.json knows (the entropy bound is ln of this)."""
    tokenizer = _module("tokenizers").Tokenizer.from_file(str(directory / "tokenizer.json"))
    return int(tokenizer.get_vocab_size())


def _write_tokenizer(directory: Path, chat_template: bool) -> int:
    tokenizers = _module("tokenizers")
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB,
        special_tokens=list(SPECIAL),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.splitlines() * 20, trainer=trainer)
    assert [tokenizer.token_to_id(t) for t in SPECIAL] == [0, BOS_ID, EOS_ID]
    tokenizer.save(str(directory / "tokenizer.json"))
    settings: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "model_max_length": WINDOW,
        "added_tokens_decoder": {
            str(i): {"content": t, "special": True, "lstrip": False, "rstrip": False}
            for i, t in enumerate(SPECIAL)
        },
    }
    if chat_template:
        settings["chat_template"] = CHAT_TEMPLATE
    (directory / "tokenizer_config.json").write_text(
        json.dumps(settings, indent=2), encoding="utf-8"
    )
    return int(tokenizer.get_vocab_size())
