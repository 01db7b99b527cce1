"""Property tests: validation never fails with anything but a ParamError naming a field; planning
always yields sizes the model and the IC-LoRA accept."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rv2v.nodes.pure import params as P
from rv2v.nodes.pure import planning as PL

ANY = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=True),
                st.text(max_size=30), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                          st.integers(), max_size=2))
FIELDS = st.sampled_from(sorted(P.BY_NAME) + ["model", "unknown_field"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(FIELDS, ANY, max_size=8))
def test_validation_either_accepts_or_names_a_field(body):
    body = {"prompt": "p", "input_video": "v.mp4", **body}
    try:
        s = P.validate(body, allow_unknown=["model"])
    except P.ParamError as exc:
        assert exc.field in P.BY_NAME or exc.field in ("unknown_field", "request")
        assert str(exc).startswith(exc.field + ": ")
        return
    assert s.num_frames % 8 == 1 and P.MIN_FRAMES <= s.num_frames <= P.MAX_FRAMES
    assert 0 < s.strength <= 1 and 0 <= s.video_strength <= 1
    assert P.MIN_FPS <= s.frames_per_second <= P.MAX_FPS and math.isfinite(s.frames_per_second)
    assert not s.preserve_original_video or (s.skip_control_preprocess and s.control_video_url)


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 8192), st.sampled_from(P.RESOLUTIONS), st.sampled_from([1, 2, 4]))
def test_planned_sizes_are_always_valid(w, h, resolution, factor):
    ow, oh = PL.output_size(resolution, w, h, factor)
    m = 32 * factor
    assert ow % m == 0 and oh % m == 0 and ow >= m and oh >= m and min(ow, oh) <= 704
    gw, gh = PL.guide_pixel_size(ow, oh, factor)
    assert gw * factor == ow and gh * factor == oh


@settings(max_examples=300, deadline=None)
@given(st.integers(-1000, 10000))
def test_snapped_frame_counts(n):
    k = P.snap_num_frames(n)
    assert k % 8 == 1 and P.MIN_FRAMES <= k <= P.MAX_FRAMES
    if P.MIN_FRAMES <= n <= P.MAX_FRAMES:
        assert abs(k - n) <= 4
