"""The seed payloads of both services decode field-for-field and encode back.

The seeds are copied verbatim from the services' documentation
(shared/seeds/), so this file runs from a fresh clone.
"""

from __future__ import annotations

import typing
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from uprock_async.screenshotcenter import App, Crawl, Screenshot, Tracker, TrackerReturn
from uprock_async.screenshotcenter.models import Envelope
from uprock_async.uprock import Cookie, Header, Job, JobDetail, JobResult

# GET /crawl/v1/jobs/{job_id}/detail, 200 (Uprock docs).
JOB_DETAIL_SEED = b"""{
  "download_url": "https://iad001.edge.uprock.com/crawl/v1/jobs/550e8400-e29b-41d4-a716-446655440000/download",
  "job": {
    "job_id": "f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8",
    "method": "GET",
    "placement": {},
    "session_id": "550e8400-e29b-41d4-a716-446655440000",
    "status": "completed",
    "submitted_at": "2026-02-17T11:38:58.467667051Z",
    "timeout_sec": 30,
    "url": "https://example.com/"
  },
  "request_cookies": [
    {
      "domain": "string",
      "expires": "string",
      "httponly": true,
      "max_age": 0,
      "name": "string",
      "path": "string",
      "samesite": "string",
      "secure": true,
      "value": "string"
    }
  ],
  "request_headers": [
    {
      "name": "string",
      "value": "string"
    }
  ],
  "response_cookies": [
    {
      "domain": "string",
      "expires": "string",
      "httponly": true,
      "max_age": 0,
      "name": "string",
      "path": "string",
      "samesite": "string",
      "secure": true,
      "value": "string"
    }
  ],
  "response_headers": [
    {
      "name": "string",
      "value": "string"
    }
  ],
  "result": {
    "created_at": "2026-02-17T11:39:05.620837802Z",
    "error_message": "Request timed out after 30 seconds",
    "error_type": "timeout",
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "size_bytes": 610393,
    "status_code": 200,
    "success": true,
    "time_ms": 3050000,
    "timestamp_ms": 1771328337931,
    "tls_cipher_suite": "TLS_AES_128_GCM_SHA256",
    "tls_version": "TLSv1.3"
  }
}"""

# GET /crawl/info, 200 (ScreenshotCenter docs).
CRAWL_INFO_SEED = b"""{
  "success": true,
  "data": {
    "id": 12345,
    "status": "finished",
    "domain": "example.com",
    "start_url": "https://example.com",
    "max_urls": 100,
    "total_discovered": 87,
    "processed": 85,
    "failed": 2,
    "error": "",
    "created_at": "",
    "started": 0,
    "finished": 0,
    "screenshots": [
      {
        "id": 12345678,
        "status": "finished",
        "error": "Request timeout after 30 seconds",
        "url": "https://example.com",
        "country": "us",
        "final_url": "https://www.example.com",
        "final_urls": [
          ""
        ],
        "response_code": 200,
        "apps": [
          {
            "id": 0,
            "app_id": "",
            "type": "",
            "name": "",
            "status": "pending",
            "filename": "",
            "error": "",
            "output_url": "",
            "output_data": {},
            "updated_at": ""
          }
        ],
        "cost": 1,
        "size": "screen",
        "cache": 86400,
        "delay": 5,
        "screen_width": 1024,
        "screen_height": 1280,
        "priority": 2,
        "referer": "",
        "post_data": "",
        "cookie": "",
        "script": "",
        "header": "",
        "html": false,
        "pdf": false,
        "pdf_background": false,
        "pdf_one_page": false,
        "pdf_landscape": false,
        "pdf_format": "a4",
        "pdf_margin": "20px",
        "pdf_margin_top": "20px",
        "pdf_margin_bottom": "20px",
        "pdf_margin_left": "20px",
        "pdf_margin_right": "20px",
        "video": false,
        "video_format": "mp4",
        "video_quality": 0,
        "video_speed": 0,
        "video_duration": 0,
        "video_fps": 0,
        "video_colors": 0,
        "video_scale": 0,
        "max_wait": 0,
        "hide_popups": false,
        "hide_ads": false,
        "dark": false,
        "shots": 1,
        "shot_interval": 0,
        "strict_ssl": false,
        "target": "",
        "geo_enable": false,
        "geo_latitude": 0,
        "geo_longitude": 0,
        "region": "",
        "language": "",
        "timezone": "",
        "device_name": "",
        "device_scale": 0,
        "device_mobile": false,
        "device_touch": false,
        "device_landscape": false,
        "browser": "chrome",
        "user_agent": "",
        "created_at": "2026-02-01T10:30:00Z",
        "finished_at": "2026-02-01T10:30:05Z",
        "tag": [
          ""
        ],
        "steps": [
          {}
        ],
        "trackers": [
          {
            "id": "test",
            "name": "page title",
            "value": "document.title",
            "name_type": "string",
            "input": "",
            "value_type": "string",
            "selector": "",
            "return": [
              {
                "found": 1,
                "shot": 1,
                "value": "My Page Title",
                "name": "page title"
              }
            ]
          }
        ],
        "links": [
          "https://example.com/about",
          "https://example.com/contact",
          "https://example.com/blog"
        ]
      }
    ]
  }
}"""

UTC = timezone.utc
_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_detail_decoder = msgspec.json.Decoder(JobDetail)


def _decode_detail() -> JobDetail:
    from uprock_async._codec import decode

    return decode(_detail_decoder, JOB_DETAIL_SEED)


def _decode_crawl() -> Envelope[Crawl]:
    from uprock_async._codec import decode

    return decode(_crawl_decoder, CRAWL_INFO_SEED)


def _seed(raw: bytes) -> dict[str, Any]:
    data = msgspec.json.decode(raw)
    assert isinstance(data, dict)
    return data


def test_job_detail_seed_decodes_every_job_field() -> None:
    job = _decode_detail().job
    assert isinstance(job, Job)
    assert job.job_id == "f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8"
    assert job.method == "GET"
    assert job.placement == {}
    assert job.session_id == "550e8400-e29b-41d4-a716-446655440000"
    assert job.status == "completed"
    # Nanosecond input: msgspec rounds to the nearest microsecond.
    assert job.submitted_at == datetime(2026, 2, 17, 11, 38, 58, 467667, tzinfo=UTC)
    assert job.submitted_at.tzinfo is not None
    assert job.timeout_sec == 30
    assert job.url == "https://example.com/"
    assert job.is_terminal
    assert job.is_completed


def test_job_detail_seed_decodes_headers_cookies_and_result() -> None:
    detail = _decode_detail()
    assert detail.download_url == (
        "https://iad001.edge.uprock.com/crawl/v1/jobs/550e8400-e29b-41d4-a716-446655440000/download"
    )
    cookie = Cookie(
        name="string",
        value="string",
        domain="string",
        path="string",
        expires="string",
        max_age=0,
        secure=True,
        httponly=True,
        samesite="string",
    )
    assert detail.request_cookies == [cookie]
    assert detail.response_cookies == [cookie]
    assert detail.request_headers == [Header(name="string", value="string")]
    assert detail.response_headers == [Header(name="string", value="string")]
    assert detail.job_id == detail.job.job_id
    assert detail.status == "completed"
    assert detail.response_header("STRING") == "string"
    assert detail.response_header("missing") is None

    result = detail.result
    assert isinstance(result, JobResult)
    assert result.created_at == datetime(2026, 2, 17, 11, 39, 5, 620838, tzinfo=UTC)
    assert result.error_message == "Request timed out after 30 seconds"
    assert result.error_type == "timeout"
    assert result.id == "550e8400-e29b-41d4-a716-446655440000"
    assert result.size_bytes == 610393
    assert result.status_code == 200
    assert result.success is True
    assert result.time_ms == 3050000
    assert result.timestamp_ms == 1771328337931
    assert result.tls_cipher_suite == "TLS_AES_128_GCM_SHA256"
    assert result.tls_version == "TLSv1.3"


def test_crawl_seed_decodes_every_crawl_field() -> None:
    envelope = _decode_crawl()
    assert envelope.success is True
    crawl = envelope.data
    assert isinstance(crawl, Crawl)
    assert crawl.id == 12345
    assert crawl.status == "finished"
    assert crawl.is_finished
    assert crawl.is_terminal
    assert crawl.domain == "example.com"
    assert crawl.start_url == "https://example.com"
    assert crawl.max_urls == 100
    assert crawl.total_discovered == 87
    assert crawl.processed == 85
    assert crawl.failed == 2
    assert crawl.error == ""
    assert crawl.created_at is None  # "" on the wire
    assert crawl.started == 0
    assert crawl.finished == 0
    assert len(crawl.screenshots) == 1


def test_crawl_seed_screenshot_matches_the_seed_field_for_field() -> None:
    crawl = _decode_crawl().data
    assert crawl is not None
    [shot] = crawl.screenshots
    assert isinstance(shot, Screenshot)
    wire = _seed(CRAWL_INFO_SEED)["data"]["screenshots"][0]
    structured = {"apps", "trackers", "created_at", "finished_at"}
    for name, value in wire.items():
        if name in structured:
            continue
        decoded = getattr(shot, name)
        assert decoded == value, name
        # Real types: strings, bools and lists keep their JSON type (ints may be floats).
        if isinstance(value, (str, bool, list)):
            assert type(decoded) is type(value), name
    assert isinstance(shot.video_speed, float)
    assert isinstance(shot.geo_latitude, float)
    assert isinstance(shot.device_scale, float)
    assert shot.response_code == 200
    assert shot.final_urls == [""]
    assert shot.tag == [""]
    assert shot.steps == [{}]
    assert shot.links == [
        "https://example.com/about",
        "https://example.com/contact",
        "https://example.com/blog",
    ]
    assert shot.created_at == datetime(2026, 2, 1, 10, 30, 0, tzinfo=UTC)
    assert shot.finished_at == datetime(2026, 2, 1, 10, 30, 5, tzinfo=UTC)
    assert shot.has_html is None  # not in this seed; declared by the official SDK
    assert shot.is_finished


def test_crawl_seed_apps_and_trackers_decode_with_return_renamed() -> None:
    crawl = _decode_crawl().data
    assert crawl is not None
    shot = crawl.screenshots[0]
    assert shot.apps == [
        App(
            id=0,
            app_id="",
            type="",
            name="",
            status="pending",
            filename="",
            error="",
            output_url="",
            output_data={},
            updated_at="",  # type: ignore[arg-type]  # the wire string is kept; reads as None
        )
    ]
    assert shot.apps[0].updated_at is None
    [tracker] = shot.trackers
    assert isinstance(tracker, Tracker)
    assert (tracker.id, tracker.name, tracker.value) == ("test", "page title", "document.title")
    assert (tracker.name_type, tracker.input, tracker.value_type, tracker.selector) == (
        "string",
        "",
        "string",
        "",
    )
    assert tracker.return_ == [
        TrackerReturn(found=1, shot=1, value="My Page Title", name="page title")
    ]


def _assert_same_shape(seed: Any, encoded: Any, extra: frozenset[str], where: str = "$") -> None:
    """Same keys and values, except declared optional ``extra`` keys that are null."""
    if isinstance(seed, dict):
        assert isinstance(encoded, dict), where
        assert set(seed) <= set(encoded), (where, set(seed) - set(encoded))
        for key in set(encoded) - set(seed):
            assert key in extra, (where, key)
            assert encoded[key] is None, (where, key)
        for key, item in seed.items():
            _assert_same_shape(item, encoded[key], extra, f"{where}.{key}")
    elif isinstance(seed, list):
        assert isinstance(encoded, list), where
        for i, (a, b) in enumerate(zip(seed, encoded, strict=True)):
            _assert_same_shape(a, b, extra, f"{where}[{i}]")
    else:
        assert seed == encoded, where


def test_job_detail_encodes_back_to_the_seed_exactly() -> None:
    # Timestamps are kept as the wire string, nanoseconds included.
    encoded = msgspec.json.decode(msgspec.json.encode(_decode_detail()))
    _assert_same_shape(_seed(JOB_DETAIL_SEED), encoded, frozenset())
    assert encoded["job"]["submitted_at"] == "2026-02-17T11:38:58.467667051Z"


def test_crawl_encodes_back_to_the_seed_shape_with_empty_timestamps_kept() -> None:
    # "" timestamps read as None but encode as sent; Screenshot's
    # has_html/has_pdf/has_video (official SDK fields, absent here) encode as null.
    encoded = msgspec.json.decode(msgspec.json.encode(_decode_crawl()))
    del encoded["error"], encoded["code"], encoded["details"]  # the error half of the envelope
    extra = frozenset({"has_html", "has_pdf", "has_video"})
    _assert_same_shape(_seed(CRAWL_INFO_SEED), encoded, extra)
    assert encoded["data"]["created_at"] == ""
    assert encoded["data"]["screenshots"][0]["trackers"][0]["return"][0]["found"] == 1
    assert msgspec.json.decode(msgspec.json.encode(_decode_crawl()), type=Envelope[Crawl]) == (
        _decode_crawl()
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ('"2026-02-17T11:38:58.467667051Z"', datetime(2026, 2, 17, 11, 38, 58, 467667, UTC)),
        ('"2026-02-17T11:38:58Z"', datetime(2026, 2, 17, 11, 38, 58, tzinfo=UTC)),
        ('"2026-02-17T12:38:58+01:00"', datetime(2026, 2, 17, 11, 38, 58, tzinfo=UTC)),
        ('""', None),
        ("null", None),
    ],
)
def test_timestamps_are_timezone_aware_or_none(wire: str, expected: datetime | None) -> None:
    from uprock_async._codec import decode

    body = f'{{"job": {{"job_id": "x", "status": "queued", "submitted_at": {wire}}}}}'.encode()
    submitted = decode(_detail_decoder, body).job.submitted_at
    assert submitted == expected
    assert submitted is None or submitted.utcoffset() is not None


def test_unknown_fields_and_unknown_statuses_are_accepted() -> None:
    body = b'{"job": {"job_id": "x", "status": "teleporting", "new_field": [1, 2]}, "extra": {}}'
    detail = msgspec.json.decode(body, type=JobDetail)
    assert detail.status == "teleporting"
    assert not detail.job.is_terminal


def test_models_are_untracked_by_the_garbage_collector() -> None:
    import gc

    detail = _decode_detail()
    assert not gc.is_tracked(detail.job)
    assert not gc.is_tracked(detail.response_headers[0])


def test_every_timestamp_field_is_pinned_and_parsed_on_access() -> None:
    """Which fields are timestamps, pinned: each reads as a datetime through the
    descriptor, and every field annotated ``Timestamp`` has one."""
    from uprock_async import screenshotcenter, uprock
    from uprock_async._timestamps import TIMESTAMP_FIELDS, Timestamp, TimestampField

    assert {cls.__name__: names for cls, names in TIMESTAMP_FIELDS.items()} == {
        "Job": ("submitted_at",),
        "JobResult": ("created_at",),
        "CrawlSession": ("created_at", "expires_at", "closed_at"),
        "App": ("updated_at",),
        "Screenshot": ("created_at", "finished_at"),
        "Crawl": ("created_at",),
        "Account": ("created_at",),
    }
    structs = [
        obj
        for module in (uprock.models, screenshotcenter.models)
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct)
    ]
    annotated = 0
    for struct in structs:
        for field in msgspec.structs.fields(struct):
            if Timestamp in typing.get_args(field.type):
                annotated += 1
                assert isinstance(struct.__dict__[field.name], TimestampField), field
                assert field.default is None, (struct, field.name)
            else:
                assert not isinstance(getattr(struct, field.name, None), TimestampField)
    assert annotated == sum(len(names) for names in TIMESTAMP_FIELDS.values())


def test_empty_timestamps_decode_to_none_in_compact_and_pretty_json() -> None:
    from uprock_async._codec import decode

    decoder = msgspec.json.Decoder(App)
    assert decode(decoder, b'{"id":1,"updated_at":""}').updated_at is None
    assert decode(decoder, b'{"id": 1, "updated_at" : ""}').updated_at is None
    assert decode(decoder, b'{"id":1,"updated_at":null}').updated_at is None
