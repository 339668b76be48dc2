"""Behaviour of facetrail's one image decoder: what comes out, and what is refused."""

from __future__ import annotations

import contextlib
import io
import time
import tracemalloc
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import ExifTags, Image, ImageFile, ImageOps

from facetrail.errors import ImageError, ImageReadError, ImageTooLargeError
from facetrail.imaging import DecodedImage, DecodeLimits, decode_image, read_image_file
from tests.hostile_corpus import CASES, make_hostile_corpus

REFUSED = sorted(name for name, code in CASES.items() if code is not None)
ACCEPTED = sorted(name for name, code in CASES.items() if code is None)
BOMBS = sorted(name for name, code in CASES.items() if code == ImageTooLargeError.code)
FORMAT_BY_SUFFIX = {".jpg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp"}
FORMAT_BY_SUFFIX |= {".tiff": "tiff", ".gif": "gif"}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, face_jpeg: bytes) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    assert make_hostile_corpus(folder, face_jpeg) == CASES
    return folder


@pytest.fixture(scope="session")
def face_rgb(face_jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(face_jpeg)) as image:
        return np.asarray(image.convert("RGB"))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def rgb_of(decoded: DecodedImage) -> np.ndarray:
    return decoded.bgr[:, :, ::-1]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- the hostile corpus ---------------------------------------------------------------------


@pytest.mark.parametrize("file_name", REFUSED)
def test_refused_file_gives_its_code_and_names_the_file(corpus: Path, file_name: str) -> None:
    path = corpus / file_name
    with pytest.raises(ImageError) as from_file:
        read_image_file(path)
    assert from_file.value.code == CASES[file_name]
    assert from_file.value.subject == str(path)
    assert str(from_file.value).startswith(f"{path}: ")

    with pytest.raises(ImageError) as from_bytes:
        decode_image(path.read_bytes(), name=file_name)
    assert from_bytes.value.code == CASES[file_name]
    assert from_bytes.value.subject == file_name


@pytest.mark.parametrize("file_name", ACCEPTED)
def test_accepted_file_decodes_to_bgr(corpus: Path, file_name: str) -> None:
    path = corpus / file_name
    raw, decoded = read_image_file(path)
    assert raw == path.read_bytes()
    assert decoded.bgr.dtype == np.uint8
    assert decoded.bgr.shape == (decoded.height, decoded.width, 3)
    assert decoded.bgr.flags.c_contiguous and decoded.bgr.flags.writeable
    assert decoded.format == FORMAT_BY_SUFFIX[path.suffix]


def test_jpeg_matches_opencv_in_bgr_order(corpus: Path) -> None:
    data = (corpus / "face.jpg").read_bytes()
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert reference is not None
    decoded = decode_image(data, name="face.jpg")
    assert decoded.bgr.shape == reference.shape
    assert mean_difference(decoded.bgr, reference) < 2.0


@pytest.mark.parametrize(
    "file_name", ["face.bmp", "face.tiff", "face_lossless.webp", "face_16bit_rgb.png"]
)
def test_lossless_copies_are_pixel_exact(
    corpus: Path, face_rgb: np.ndarray, file_name: str
) -> None:
    _, decoded = read_image_file(corpus / file_name)
    np.testing.assert_array_equal(rgb_of(decoded), face_rgb)


def test_16bit_grey_scales_down_exactly(corpus: Path, face_rgb: np.ndarray) -> None:
    grey = np.asarray(Image.fromarray(face_rgb).convert("L"))
    _, decoded = read_image_file(corpus / "face_16bit_grey.png")
    for channel in range(3):
        np.testing.assert_array_equal(decoded.bgr[:, :, channel], grey)


@pytest.mark.parametrize(("file_name", "tolerance"), [("face_cmyk.jpg", 6.0), ("face.webp", 6.0)])
def test_lossy_variants_look_like_the_face(
    corpus: Path, face_rgb: np.ndarray, file_name: str, tolerance: float
) -> None:
    _, decoded = read_image_file(corpus / file_name)
    assert mean_difference(rgb_of(decoded), face_rgb) < tolerance


def test_transparency_is_composited_over_white(corpus: Path, face_rgb: np.ndarray) -> None:
    _, decoded = read_image_file(corpus / "face_rgba.png")
    rgb = rgb_of(decoded)
    height, width = face_rgb.shape[:2]
    assert (rgb[0, 0] == 255).all() and (rgb[-1, -1] == 255).all()  # transparent corners
    np.testing.assert_array_equal(rgb[height // 2, width // 2], face_rgb[height // 2, width // 2])


def test_animated_gif_gives_first_frame_and_counts_frames(
    corpus: Path, face_rgb: np.ndarray
) -> None:
    _, decoded = read_image_file(corpus / "face_animated.gif")
    assert decoded.frames == 2
    to_face = mean_difference(rgb_of(decoded), face_rgb)
    assert to_face < 15.0
    assert to_face < mean_difference(rgb_of(decoded), 255 - face_rgb)


def test_exif_rotated_jpeg_comes_out_upright(corpus: Path) -> None:
    _, rotated = read_image_file(corpus / "face_exif_rotated.jpg")
    _, upright = read_image_file(corpus / "face_exif_upright.png")
    assert rotated.exif_orientation == 6
    assert rotated.bgr.shape == upright.bgr.shape
    assert rotated.height > rotated.width
    assert mean_difference(rotated.bgr, upright.bgr) < 6.0


# --- EXIF orientation -----------------------------------------------------------------------

# How a camera stores an upright picture for each EXIF orientation value (EXIF 2.3, tag 274:
# where the stored 0th row and 0th column sit in the upright view). Derived from the spec,
# not from the decoder, so the two cannot share a mistake.
STORED_FROM_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,  # row 0 top, column 0 left
    2: lambda a: a[:, ::-1],  # row 0 top, column 0 right
    3: lambda a: a[::-1, ::-1],  # row 0 bottom, column 0 right
    4: lambda a: a[::-1],  # row 0 bottom, column 0 left
    5: lambda a: a.swapaxes(0, 1),  # row 0 left, column 0 top
    6: lambda a: np.rot90(a, 1),  # row 0 right, column 0 top
    7: lambda a: np.rot90(a, 1)[:, ::-1],  # row 0 right, column 0 bottom
    8: lambda a: np.rot90(a, -1),  # row 0 left, column 0 bottom
}


LOSSLESS_OPTIONS: dict[str, dict[str, object]] = {
    "PNG": {},
    "TIFF": {},
    "TIFF-LZW": {"compression": "tiff_lzw"},  # decoded by libtiff rather than Pillow
    "WEBP": {"lossless": True, "exact": True},
}


def with_orientation(upright: np.ndarray, orientation: int, fmt: str, **options: object) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright))
    return encode(Image.fromarray(stored), fmt, exif=exif, **options)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "TIFF-LZW", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_undone_exactly(orientation: int, fmt: str) -> None:
    upright = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    options = LOSSLESS_OPTIONS[fmt]
    data = with_orientation(upright, orientation, fmt.split("-")[0], **options)
    decoded = decode_image(data, name=f"oriented.{fmt.lower()}")
    assert decoded.exif_orientation == orientation
    np.testing.assert_array_equal(rgb_of(decoded), upright)
    with Image.open(io.BytesIO(data)) as image:  # Pillow's own reading agrees
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(image)), upright)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_on_jpeg_puts_the_marker_back_top_left(orientation: int) -> None:
    upright = np.full((48, 64, 3), 128, dtype=np.uint8)
    upright[:16, :16] = (255, 0, 0)  # a red square in the top-left corner
    decoded = decode_image(with_orientation(upright, orientation, "JPEG"), name="marker.jpg")
    red = rgb_of(decoded)[:, :, 0].astype(int)
    assert decoded.bgr.shape == (48, 64, 3)
    assert red[:16, :16].mean() > 220
    assert max(red[:16, -16:].mean(), red[-16:, :16].mean(), red[-16:, -16:].mean()) < 160


@pytest.mark.parametrize("value", [0, 9, 300])
def test_meaningless_orientation_is_ignored(value: int) -> None:
    upright = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = value
    decoded = decode_image(encode(Image.fromarray(upright), "PNG", exif=exif), name="odd.png")
    assert decoded.exif_orientation == 1
    np.testing.assert_array_equal(rgb_of(decoded), upright)


# --- pixel modes ----------------------------------------------------------------------------


def test_grey_palette_and_bilevel_images_become_three_equal_channels() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    for image in (Image.fromarray(grey), Image.fromarray(grey).convert("1")):
        decoded = decode_image(encode(image, "PNG"), name="grey.png")
        expected = np.asarray(image.convert("L"))
        for channel in range(3):
            np.testing.assert_array_equal(decoded.bgr[:, :, channel], expected)


def test_palette_transparency_and_grey_alpha_become_white() -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.putpixel((0, 0), 0)
    decoded = decode_image(encode(palette, "PNG", transparency=0), name="p.png")
    assert rgb_of(decoded)[0, 0].tolist() == [255, 255, 255]
    assert rgb_of(decoded)[1, 1].tolist() == [10, 20, 30]

    la = np.zeros((2, 2, 2), dtype=np.uint8)
    la[..., 0] = 100
    la[..., 1] = [[0, 255], [128, 255]]
    decoded = decode_image(encode(Image.fromarray(la, "LA"), "PNG"), name="la.png")
    assert decoded.bgr[:, :, 0].tolist() == [[255, 100], [177, 100]]  # (100*128 + 255*127) / 255


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 257 * 7, 65535]], dtype=np.int32), [0, 7, 255]),  # "I", 16-bit range
        (np.array([[0, 257 * 7, 65535]], dtype=">u2"), [0, 7, 255]),  # "I;16B"
        (np.array([[0.0, 0.5, 1.0]], dtype=np.float32), [0, 128, 255]),  # "F", 0..1
        (np.array([[-5.0, 0.0, 5.0]], dtype=np.float32), [0, 128, 255]),  # "F", no range
    ],
)
def test_wide_grey_modes_are_scaled_to_8_bits(values: np.ndarray, expected: list[int]) -> None:
    decoded = decode_image(encode(Image.fromarray(values), "TIFF"), name="wide.tiff")
    assert decoded.bgr[0, :, 1].tolist() == expected


def test_cmyk_tiff_converts_like_pillow() -> None:
    cmyk = Image.new("CMYK", (3, 3), (0, 255, 0, 0))
    decoded = decode_image(encode(cmyk, "TIFF"), name="cmyk.tiff")
    expected = cmyk.convert("RGB").getpixel((0, 0))
    assert isinstance(expected, tuple)
    assert rgb_of(decoded)[0, 0].tolist() == list(expected)


# --- limits and bombs -----------------------------------------------------------------------


@pytest.mark.parametrize("file_name", BOMBS)
def test_bomb_is_refused_fast_without_decoding(
    corpus: Path, file_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pixel_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixel decoding started")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixel_decoding)
    data = (corpus / file_name).read_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageTooLargeError):
            decode_image(data, name=file_name)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 50 * 1024 * 1024


def test_pixel_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (100, 100), (1, 2, 3)), "PNG")
    assert decode_image(data, name="a.png").width == 100
    assert decode_image(data, name="a.png", limits=DecodeLimits(max_pixels=10_000)).height == 100
    with pytest.raises(ImageTooLargeError, match="100x100"):
        decode_image(data, name="a.png", limits=DecodeLimits(max_pixels=5000))


def test_webp_pixel_limit_is_checked_on_the_header() -> None:
    image = Image.new("RGB", (100, 100), (1, 2, 3))
    for options in ({"lossless": True}, {"quality": 80}, {"exif": Image.Exif()}):
        data = encode(image, "WEBP", **options)
        assert decode_image(data, name="a.webp").bgr.shape == (100, 100, 3)
        with pytest.raises(ImageTooLargeError, match="100x100"):
            decode_image(data, name="a.webp", limits=DecodeLimits(max_pixels=5000))


def test_byte_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (10, 10)), "PNG")
    assert decode_image(data, name="a.png", limits=DecodeLimits(max_bytes=len(data))).width == 10
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data, name="a.png", limits=DecodeLimits(max_bytes=len(data) - 1))


def test_big_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # sparse: 4 GiB on paper, nothing on disk
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageTooLargeError) as refused:
            read_image_file(huge)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.subject == str(huge)
    assert elapsed < 0.5
    assert peak < 1024 * 1024  # not even max_bytes was read


def test_small_byte_limit_applies_to_files(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    path.write_bytes(encode(Image.new("RGB", (40, 40)), "PNG"))
    with pytest.raises(ImageTooLargeError):
        read_image_file(path, limits=DecodeLimits(max_bytes=50))


def test_missing_file_and_folder_are_unreadable(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.jpg", tmp_path):
        with pytest.raises(ImageReadError) as refused:
            read_image_file(path)
        assert refused.value.subject == str(path)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DecodeLimits(max_pixels=0)


# --- warnings and threads -------------------------------------------------------------------


def test_decoding_leaves_warning_filters_as_they_were(corpus: Path) -> None:
    before = list(warnings.filters)
    for file_name in CASES:
        with contextlib.suppress(ImageError):
            read_image_file(corpus / file_name)
    assert warnings.filters == before


def test_concurrent_decoding_gives_the_same_results(corpus: Path) -> None:
    names = [name for name in ACCEPTED for _ in range(4)]
    serial = [read_image_file(corpus / name)[1].bgr for name in names]
    before = list(warnings.filters)
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda name: read_image_file(corpus / name)[1].bgr, names))
    assert warnings.filters == before
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)


# --- properties -----------------------------------------------------------------------------

small_rgb = arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24), st.just(3)))
LOSSLESS = {"PNG": {}, "BMP": {}, "TIFF": {}, "WEBP": {"lossless": True, "exact": True}}


@settings(max_examples=60, deadline=None)
@given(rgb=small_rgb, fmt=st.sampled_from(sorted(LOSSLESS)))
def test_lossless_formats_round_trip_exactly_in_bgr_order(rgb: np.ndarray, fmt: str) -> None:
    decoded = decode_image(encode(Image.fromarray(rgb), fmt, **LOSSLESS[fmt]), name=f"x.{fmt}")
    assert decoded.format == fmt.lower()
    np.testing.assert_array_equal(decoded.bgr[:, :, 0], rgb[:, :, 2])
    np.testing.assert_array_equal(decoded.bgr, rgb[:, :, ::-1])


def _seed_files() -> list[bytes]:
    rgb = np.random.default_rng(3).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    return [
        encode(image, "JPEG"),
        encode(image, "PNG"),
        encode(image.convert("P"), "GIF", save_all=True, append_images=[image.convert("P")]),
        encode(image, "BMP"),
        encode(image, "TIFF", compression="tiff_lzw"),
        encode(image, "WEBP"),
    ]


SEEDS = _seed_files()


@settings(max_examples=300, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=6),
)
def test_damaged_files_only_ever_raise_image_errors(
    seed: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(seed[: max(1, len(seed) - cut)])
    for position, mask in flips:
        data[position % len(data)] ^= mask
    try:
        decoded = decode_image(bytes(data), name="damaged")
    except ImageError as refused:
        assert refused.subject == "damaged" and refused.message
    else:
        assert decoded.bgr.dtype == np.uint8 and decoded.bgr.shape[2] == 3
