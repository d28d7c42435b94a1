"""The taxonomy: the shipped default (issue 3's fixed areas) and validation errors that say
which file, which topic and which key went wrong, and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paperrec.errors import InputError
from paperrec.topics.taxonomy import Topic, load_taxonomy, parse_taxonomy

# Issue 3's table, verbatim: these ids and arXiv mappings are fixed.
AREAS = {
    "nlp": {"cs.CL"},
    "computer-vision": {"cs.CV", "eess.IV"},
    "robotics": {"cs.RO"},
    "speech-audio": {"cs.SD", "eess.AS"},
    "information-retrieval": {"cs.IR"},
    "security-privacy": {"cs.CR"},
    "hci": {"cs.HC"},
    "software-engineering": {"cs.SE"},
    "multi-agent": {"cs.MA"},
    "databases": {"cs.DB"},
    "distributed-computing": {"cs.DC"},
    "graphics": {"cs.GR"},
    "computers-society": {"cs.CY"},
    "signal-processing": {"eess.SP"},
    "control-systems": {"eess.SY", "cs.SY"},
    "game-theory": {"cs.GT"},
    "networking": {"cs.NI"},
    "information-theory": {"cs.IT", "math.IT"},
    "neural-evolutionary": {"cs.NE"},
    "computational-engineering": {"cs.CE"},
    "hardware-architecture": {"cs.AR"},
    "social-networks": {"cs.SI"},
    "multimedia": {"cs.MM"},
    "programming-languages": {"cs.PL"},
    "theory": {"cs.DS", "cs.CC", "cs.LO", "cs.FL", "cs.DM", "cs.CG"},
    "machine-learning": {"cs.LG", "stat.ML"},
    "artificial-intelligence": {"cs.AI"},
    "statistics": {"stat.ME", "stat.AP", "stat.CO", "stat.TH", "stat.OT"},
    "physics": {
        "astro-ph*",
        "cond-mat*",
        "gr-qc",
        "hep-*",
        "nucl-*",
        "physics.*",
        "quant-ph",
        "nlin.*",
    },
    "mathematics": {"math.*"},
    "quantitative-biology": {"q-bio.*"},
    "quantitative-finance": {"q-fin.*"},
    "economics": {"econ.*"},
}

VALID = """\
version: 1
topics:
  - id: vision
    name: Vision
    description: Images and video.
    keywords: [image]
    arxiv: [cs.CV]
  - id: diffusion
    name: Diffusion
    parent: vision
    description: Diffusion models.
    keywords: [diffusion]
"""


@pytest.fixture(scope="module")
def default():
    return load_taxonomy()


def test_default_taxonomy_has_the_fixed_areas(default):
    assert len(AREAS) == 33
    assert set(default.area_ids) == set(AREAS)
    for area, categories in AREAS.items():
        assert set(default[area].arxiv) == categories, area
        assert default[area].parent is None


def test_default_taxonomy_has_enough_fine_topics(default):
    assert len(default.fine_ids) >= 25
    for topic_id in default.fine_ids:
        topic = default[topic_id]
        assert topic.parent in default.by_id, topic_id
        assert topic.keywords or topic.patterns, topic_id
        assert topic.description
    # a sample of the themes issue 3 names
    for wanted in (
        "pretraining",
        "continual-learning",
        "alignment",
        "reasoning",
        "rag",
        "curriculum-learning",
    ):
        assert wanted in default.fine_ids


def test_default_taxonomy_ids_are_unique_and_hash_is_stable(default):
    assert len(set(default.ids)) == len(default.ids) == len(default)
    assert re.fullmatch(r"[0-9a-f]{64}", default.sha256)
    assert load_taxonomy().sha256 == default.sha256
    assert default.source == "paperrec/topics/taxonomy.yaml"


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["cs.CL", "cs.LG"], {"nlp", "machine-learning"}),
        (["math.AP"], {"mathematics"}),
        (["math.IT"], {"mathematics", "information-theory"}),
        (["hep-th"], {"physics"}),
        (["hep-ph", "nucl-th"], {"physics"}),
        (["astro-ph"], {"physics"}),
        (["astro-ph.GA"], {"physics"}),
        (["cond-mat.mes-hall"], {"physics"}),
        (["physics.optics", "quant-ph"], {"physics"}),
        (["q-bio.NC"], {"quantitative-biology"}),
        (["q-fin.PR", "econ.EM"], {"quantitative-finance", "economics"}),
        (["eess.SY"], {"control-systems"}),
        (["cs.XX"], set()),
        (["mathematics"], set()),  # "math.*" needs the dot
        (["hep"], set()),  # "hep-*" needs the dash
        ([], set()),
    ],
)
def test_topics_for_categories_with_wildcards(default, categories, expected):
    assert default.topics_for_categories(categories) == expected


def test_a_custom_taxonomy_loads_from_a_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(VALID, encoding="utf-8")
    taxonomy = load_taxonomy(path)
    assert taxonomy.ids == ("vision", "diffusion")
    assert taxonomy.area_ids == ("vision",)
    assert taxonomy.fine_ids == ("diffusion",)
    assert taxonomy.source == str(path)
    assert taxonomy.sha256 != load_taxonomy().sha256


def _error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_taxonomy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message  # every error names the file
    return message.removeprefix(f"{path}: ")


def test_unknown_key_lists_the_allowed_keys(tmp_path):
    message = _error(VALID + "    colour: red\n", tmp_path)
    assert "topic 'diffusion'" in message and "key 'colour'" in message
    assert all(key in message for key in Topic.model_fields)


def test_unknown_top_level_key_lists_the_allowed_top_level_keys(tmp_path):
    message = _error(VALID + "colour: red\n", tmp_path)
    assert "key 'colour'" in message
    assert "version" in message and "topics" in message
    assert "keywords" not in message  # those are a topic's keys, not the file's


def test_bad_id_says_what_an_id_looks_like(tmp_path):
    message = _error(
        VALID.replace("id: vision", "id: Vision_X").replace("parent: vision", "parent: Vision_X"),
        tmp_path,
    )
    assert "topic 'Vision_X'" in message and "key 'id'" in message
    assert "lowercase letters, digits and dashes" in message


def test_bad_regex_names_the_pattern(tmp_path):
    message = _error(VALID + "    patterns: ['(unclosed']\n", tmp_path)
    assert "topic 'diffusion'" in message and "key 'patterns'" in message
    assert "'(unclosed'" in message and "does not compile" in message


def test_unknown_parent_lists_the_topics(tmp_path):
    message = _error(VALID.replace("parent: vision", "parent: nowhere"), tmp_path)
    assert "topic 'diffusion'" in message and "key 'parent'" in message
    assert "'nowhere'" in message and "allowed: vision" in message


def test_duplicate_id_is_named(tmp_path):
    message = _error(
        VALID.replace("id: diffusion", "id: vision").replace("    parent: vision\n", ""), tmp_path
    )
    assert "duplicate topic id" in message and "vision" in message


def test_missing_description(tmp_path):
    message = _error(VALID.replace("    description: Diffusion models.\n", ""), tmp_path)
    assert (
        "topic 'diffusion'" in message and "key 'description'" in message and "missing" in message
    )


def test_empty_description(tmp_path):
    message = _error(VALID.replace("description: Diffusion models.", "description: ''"), tmp_path)
    assert "topic 'diffusion'" in message and "key 'description'" in message


def test_bad_category_shows_valid_forms(tmp_path):
    message = _error(VALID.replace("[cs.CV]", "[computer vision]"), tmp_path)
    assert "topic 'vision'" in message and "key 'arxiv'" in message
    assert "'computer vision'" in message and "'cs.CL'" in message and "'math.*'" in message


def test_topic_without_any_rule_source(tmp_path):
    message = _error(VALID.replace("    keywords: [diffusion]\n", ""), tmp_path)
    assert "topic 'diffusion'" in message
    assert "'keywords'" in message and "'patterns'" in message and "'arxiv'" in message


def test_not_yaml(tmp_path):
    message = _error("topics: [\n  - id: x\n", tmp_path)
    assert message.startswith("not valid YAML")
    assert "line 2" in message


def test_yaml_that_is_not_a_mapping(tmp_path):
    message = _error("- one\n- two\n", tmp_path)
    assert "'version'" in message and "'topics'" in message


def test_no_topics(tmp_path):
    message = _error("version: 1\ntopics: []\n", tmp_path)
    assert "key 'topics'" in message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.yaml: no such taxonomy file"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_parse_taxonomy_names_its_source():
    with pytest.raises(InputError, match=r"^inline: not valid YAML"):
        parse_taxonomy("a: [", "inline")
