"""The parameter table: defaults, ranges, combinations, schema."""
import math

import pytest

from rv2v.nodes.pure import params as P

BASE = {"prompt": "a fox", "input_video": "clip.mp4"}


def test_fifteen_preset_fields_with_contract_defaults():
    assert P.PRESET_FIELDS == (
        "prompt", "input_video", "input_image", "control_video_url", "skip_control_preprocess",
        "preserve_original_video", "video_strength", "strength", "num_frames", "resolution",
        "frames_per_second", "generate_audio", "video_quality", "negative_prompt", "seed",
    )
    s = P.validate(BASE)
    assert (s.video_strength, s.strength, s.num_frames, s.resolution, s.frames_per_second) == (0.6, 1.0, 121, "auto", 24.0)
    assert (s.generate_audio, s.video_quality, s.skip_control_preprocess, s.preserve_original_video) == (True, "high", False, False)
    assert s.negative_prompt.startswith("color distortion") and s.negative_prompt.endswith("walking backwards")
    assert s.seed is None and s.control_type == "canny" and s.notes == []


@pytest.mark.parametrize("n,used", [(9, 9), (10, 9), (12, 9), (13, 17), (17, 17), (121, 121), (120, 121),
                                    (100, 97), (101, 105), (481, 481), (478, 481)])
def test_num_frames_snaps_to_nearest_8k_plus_1_and_reports(n, used):
    s = P.validate({**BASE, "num_frames": n})
    assert s.num_frames == used and s.requested_num_frames == n
    assert (used != n) == any("num_frames" in note for note in s.notes)


@pytest.mark.parametrize("field,value,fragment", [
    ("num_frames", 8, "from 9 to 481"), ("num_frames", 482, "from 9 to 481"), ("num_frames", 12.5, "integer"),
    ("num_frames", "121", "integer"), ("num_frames", True, "integer"),
    ("frames_per_second", 0.5, "from 1 to 60"), ("frames_per_second", 61, "from 1 to 60"),
    ("frames_per_second", float("nan"), "nan"), ("frames_per_second", float("inf"), "inf"),
    ("strength", 0, "greater than 0"), ("strength", -0.1, "greater than 0"), ("strength", 1.5, "to 1"),
    ("video_strength", 1.01, "from 0 to 1"), ("video_strength", -0.01, "from 0 to 1"),
    ("resolution", "4k", "one of 'auto'"), ("video_quality", "ultra", "one of 'low'"),
    ("control_type", "normal", "one of 'canny'"), ("generate_audio", "yes", "true or false"),
    ("seed", -1, "from 0"), ("seed", 2 ** 64, "to 18446744073709551615"), ("prompt", 5, "string"),
    ("prompt", "x" * (P.MAX_PROMPT_CHARS + 1), "characters"), ("input_video", 3, "URL"),
])
def test_invalid_values_name_the_field_and_what_is_allowed(field, value, fragment):
    with pytest.raises(P.ParamError) as info:
        P.validate({**BASE, field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert fragment.lower() in str(info.value).lower()


def test_required_fields():
    for missing in ("prompt", "input_video"):
        body = dict(BASE)
        del body[missing]
        with pytest.raises(P.ParamError, match=f"^{missing}: is required"):
            P.validate(body)
    with pytest.raises(P.ParamError, match="prompt: is required and must not be empty"):
        P.validate({**BASE, "prompt": "   "})


def test_unknown_fields_are_refused_unless_allowed():
    with pytest.raises(P.ParamError, match="^guidance: is not a parameter"):
        P.validate({**BASE, "guidance": 3})
    assert P.validate({**BASE, "model": P.MODEL_ID}, allow_unknown=["model"]).prompt == "a fox"


@pytest.mark.parametrize("extra,missing", [
    ({}, "skip_control_preprocess, control_video_url"),
    ({"skip_control_preprocess": True}, "control_video_url"),
    ({"control_video_url": "c.mp4"}, "skip_control_preprocess"),
])
def test_preserve_requires_skip_and_control_video(extra, missing):
    with pytest.raises(P.ParamError) as info:
        P.validate({**BASE, "preserve_original_video": True, **extra})
    assert info.value.field == "preserve_original_video"
    assert missing in str(info.value)


def test_valid_preserve_and_ignored_combinations_are_noted():
    s = P.validate({**BASE, "preserve_original_video": True, "skip_control_preprocess": True,
                    "control_video_url": "c.mp4", "strength": 0.5})
    assert s.use_control_video and s.strength == 0.5 and s.notes == []
    s = P.validate({**BASE, "skip_control_preprocess": True})
    assert not s.use_control_video and any("ignored" in n for n in s.notes)
    s = P.validate({**BASE, "strength": 0.4})
    assert any(n.startswith("strength:") for n in s.notes)
    s = P.validate({**BASE, "input_image": "", "control_video_url": "  "})
    assert s.input_image is None and s.control_video_url is None


def test_cli_mode_parses_strings():
    s = P.validate({**BASE, "num_frames": "17", "generate_audio": "false", "strength": "0.5"}, strict=False)
    assert (s.num_frames, s.generate_audio, s.strength) == (17, False, 0.5)


def test_integral_float_is_accepted_for_int():
    assert P.validate({**BASE, "num_frames": 17.0}).num_frames == 17


def test_json_schema_is_generated_from_the_table():
    schema = P.json_request_schema()
    props = schema["properties"]
    assert set(props) == {"model", *P.BY_NAME}
    assert schema["required"] == ["prompt", "input_video"] and schema["additionalProperties"] is False
    assert props["num_frames"] == {**props["num_frames"], "type": "integer", "minimum": 9, "maximum": 481, "default": 121}
    assert props["strength"]["exclusiveMinimum"] == 0.0 and props["strength"]["maximum"] == 1.0
    assert props["resolution"]["enum"] == list(P.RESOLUTIONS)
    assert props["control_type"]["x-pack-extra"] is True
    assert props["input_video"]["format"] == "uri-reference"
    for p in P.PARAMS:
        assert props[p.name]["description"] == p.description


def test_to_request_roundtrip():
    s = P.validate({**BASE, "num_frames": 20, "seed": 7})
    again = P.validate(s.to_request())
    assert again.num_frames == 17 and again.seed == 7 and again.prompt == "a fox"
