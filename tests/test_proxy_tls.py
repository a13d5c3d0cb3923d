"""Corporate networks: proxies (given, or from the environment), TLS with an own CA,
SSL_CERT_FILE, ssl=False, and proxy credentials kept secret.

Every part is real and on loopback: the FakeServer is the API, a relay in front
of it terminates TLS with certificates from ``trustme``, and the proxies (HTTP
forwarding, CONNECT tunnels, SOCKS5) are small asyncio servers
(``tests/network_support.py``) that record what passed through them.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import trustme
from yarl import URL

from uprock_async import (
    APIConnectionError,
    APIStatusError,
    ScreenshotCenterClient,
    UprockAsyncError,
    UprockClient,
)
from uprock_async import sync as blocking
from uprock_async._http._network import Network
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY
from .network_support import ForwardProxy, Relay, Socks5Proxy, basic
from .test_secrets_reachable import reachable

DEAD = "http://127.0.0.1:9"  # nothing listens there: a proxy that must not be used
USER, PASSWORD = "proxy-user", "pr0xy-s3cret/p@ss"
# As a URL writes them (the password percent-encoded), and every other spelling.
CREDENTIALS = f"{USER}:{quote(PASSWORD, safe='')}"


def secrets_of(password: str) -> tuple[str, ...]:
    """A password, as a URL writes it, the user:password pair and the Basic token."""
    return (password, quote(password, safe=""), f"{USER}:{password}", basic(USER, password)[6:])


SECRETS = secrets_of(PASSWORD)
_ENVIRONMENT = (
    *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO")),
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA setting of the machine running the tests leaks into them."""
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class Tls:
    """The FakeServer behind a TLS front (certificate for 127.0.0.1 signed by
    ``ca``); ``door`` counts every TCP connection, failed handshakes included."""

    def __init__(self, server: FakeServer, front: Relay, door: Relay) -> None:
        self.server, self.front, self.door = server, front, door
        self.uprock_url = f"https://127.0.0.1:{door.port}{server.uprock.prefix}"
        self.screenshotcenter_url = f"https://127.0.0.1:{door.port}{server.screenshotcenter.prefix}"


@pytest.fixture
async def tls(server: FakeServer, ca: trustme.CA) -> AsyncIterator[Tls]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with Relay(server.port, tls=context) as front, Relay(front.port) as door:
        yield Tls(server, front, door)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


@pytest.fixture
async def guarded() -> AsyncIterator[ForwardProxy]:
    """A proxy that asks for USER/PASSWORD."""
    async with ForwardProxy(credentials=(USER, PASSWORD)) as forward:
        yield forward


def with_credentials(url: str, credentials: str = CREDENTIALS) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{credentials}@{rest}"


def assert_no_secret(texts: list[str], secrets: tuple[str, ...] = SECRETS) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, text[:300]


def job_path(job_id: str) -> str:
    return f"/crawl/v1/jobs/{job_id}/detail"


# -- going through a proxy ------------------------------------------------------------


async def test_a_request_goes_through_the_proxy_given(
    server: FakeServer, proxy: ForwardProxy
) -> None:
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(server.api_key, base_url=server.uprock_url, proxy=proxy.url) as client:
        detail = await client.job_detail(job_id)
    assert str(detail.job_id) == job_id
    assert [(s.method, s.target) for s in proxy.seen] == [
        ("GET", f"{server.uprock_url}{job_path(job_id)}")
    ]
    assert server.requests[-1].headers["Authorization"] == f"Bearer {server.api_key}"


async def test_an_https_target_is_tunnelled_through_the_proxy(
    tls: Tls, proxy: ForwardProxy, ca: trustme.CA
) -> None:
    (job_id,) = tls.server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(
        tls.server.api_key, base_url=tls.uprock_url, proxy=proxy.url, ssl=trusting(ca)
    ) as client:
        await client.job_detail(job_id)
        await client.job_detail(job_id)  # the tunnel is pooled like any connection
    assert [(s.method, s.target) for s in proxy.seen] == [("CONNECT", f"127.0.0.1:{tls.door.port}")]
    assert [r.path for r in tls.server.requests] == [job_path(job_id)] * 2


async def test_an_https_proxy_is_reached_over_tls(
    server: FakeServer, proxy: ForwardProxy, ca: trustme.CA
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with (
        Relay(proxy.port, tls=context) as tls_proxy,
        UprockClient(
            server.api_key,
            base_url=server.uprock_url,
            proxy=f"https://127.0.0.1:{tls_proxy.port}",
            ssl=trusting(ca),  # the context verifies every connection: the proxy's too
        ) as client,
    ):
        await client.job_detail(job_id)
    assert [s.method for s in proxy.seen] == ["GET"]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_the_environment_proxy_for_http_is_used(
    server: FakeServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", DEAD)  # for https URLs only
    monkeypatch.setenv(variable, proxy.url)
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=0) as client:
        await client.job_detail(job_id)
    assert [s.method for s in proxy.seen] == ["GET"]


async def test_the_environment_proxy_for_https_tunnels(
    tls: Tls, proxy: ForwardProxy, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", DEAD)  # for http URLs only
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.removeprefix("http://"))  # no scheme: http
    (job_id,) = tls.server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(
        tls.server.api_key, base_url=tls.uprock_url, ssl=trusting(ca), retry=0
    ) as client:
        await client.job_detail(job_id)
    assert [s.method for s in proxy.seen] == ["CONNECT"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost, 127.0.0.1", "*", "{port}"])
async def test_no_proxy_bypasses_the_environment_proxy(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", DEAD)
    monkeypatch.setenv("NO_PROXY", no_proxy.replace("{port}", f"127.0.0.1:{server.port}"))
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=0) as client:
        await client.job_detail(job_id)
    assert [r.path for r in server.requests] == [job_path(job_id)]


async def test_trust_env_false_ignores_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", DEAD)
    monkeypatch.setenv("ALL_PROXY", DEAD)
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, trust_env=False, retry=0
    ) as client:
        await client.job_detail(job_id)
    assert len(server.requests) == 1


async def test_an_explicit_proxy_wins_over_the_environment(
    server: FakeServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", DEAD)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the environment's; proxy= is used for all
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, proxy=proxy.url, retry=0
    ) as client:
        await client.job_detail(job_id)
    assert [s.method for s in proxy.seen] == ["GET"]


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ("example.com", "https://example.com/a", False),
        ("example.com", "https://api.example.com/a", False),
        ("example.com", "https://notexample.com/a", True),
        (".example.com", "https://example.com/a", True),
        (".example.com", "https://api.example.com/a", False),
        ("*.example.com", "https://api.example.com/a", False),
        ("example.com:8443", "https://example.com/a", True),
        ("example.com:8443", "https://example.com:8443/a", False),
        ("http://example.com", "https://example.com/a", True),
        ("http://example.com", "http://example.com/a", False),
        ("::1", "http://[::1]:8080/a", False),
        ("[::1]:8080", "http://[::1]:8080/a", False),
        ("EXAMPLE.com", "https://Example.COM/a", False),
        ("", "https://example.com/a", True),
        ("10.0.0.0/8", "http://10.1.2.3/a", False),
        ("10.0.0.0/8", "http://11.1.2.3/a", True),
        ("192.168.1.7/32, example.com", "https://192.168.1.7:8443/a", False),
        ("fd00::/8", "http://[fd12::1]/a", False),
        ("fd00::/8", "http://[fe80::1]/a", True),
        ("10.0.0.0/8", "http://ten.example/a", True),  # a block never names a host name
        ("10.0.0.0/99", "http://10.1.2.3/a", True),  # no block at all: names nothing
        ("http://10.0.0.0/8", "https://10.1.2.3/a", True),
    ],
)
def test_no_proxy_reads_like_httpx(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, proxied: bool
) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    network = Network.build(base_url="https://edge.uprock.com")
    assert network is not None
    found = network.proxy_for(URL(url))
    assert found == (URL("http://proxy.internal:3128") if proxied else None)
    assert network.proxy_for(URL(url)) is found  # the answer is cached


# -- TLS --------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["default trust store", "another CA"])
async def test_an_untrusted_certificate_fails_once_with_a_clear_error(
    tls: Tls, setting: str
) -> None:
    other = trusting(trustme.CA()) if setting == "another CA" else True
    async with UprockClient(
        tls.server.api_key, base_url=tls.uprock_url, ssl=other, trust_env=False, retry=FAST_RETRY
    ) as client:
        with pytest.raises(APIConnectionError, match="certificate") as caught:
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
        stats = client.stats()
    assert "ssl=" in str(caught.value)  # it says what to do
    assert (stats.requests, stats.retries) == (1, 0)  # never retried
    assert tls.door.connections == 1
    assert tls.server.requests == []


async def test_a_certificate_failure_through_a_tunnel_is_not_retried(
    tls: Tls, proxy: ForwardProxy
) -> None:
    async with UprockClient(
        tls.server.api_key,
        base_url=tls.uprock_url,
        proxy=proxy.url,
        ssl=trusting(trustme.CA()),
        retry=FAST_RETRY,
    ) as client:
        with pytest.raises(APIConnectionError, match="certificate"):
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
    assert [s.method for s in proxy.seen] == ["CONNECT"]


async def test_ssl_cert_file_is_trusted_under_trust_env(
    tls: Tls, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "corporate.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    (job_id,) = tls.server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(tls.server.api_key, base_url=tls.uprock_url) as client:
        await client.job_detail(job_id)
    async with UprockClient(
        tls.server.api_key, base_url=tls.uprock_url, trust_env=False, retry=0
    ) as client:
        with pytest.raises(APIConnectionError, match="certificate"):
            await client.job_detail(job_id)


@pytest.fixture
def cert_dir(ca: trustme.CA, tmp_path: Path) -> Path:
    """A directory in OpenSSL's hashed layout (``<subject hash>.0``) holding the CA."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to hash the CA's name")
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    hashed = subprocess.run(  # noqa: S603 (a fixed command on a file of ours)
        ["openssl", "x509", "-hash", "-noout", "-in", str(pem)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path / "certs"
    directory.mkdir()
    pem.rename(directory / f"{hashed}.0")
    return directory


async def test_ssl_cert_dir_is_trusted_under_trust_env(
    tls: Tls, cert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(cert_dir))
    (job_id,) = tls.server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(tls.server.api_key, base_url=tls.uprock_url) as client:
        await client.job_detail(job_id)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SSL_CERT_FILE", "missing.pem"), ("SSL_CERT_FILE", "not-a-bundle"), ("SSL_CERT_DIR", "none")],
)
def test_an_unusable_ca_setting_is_a_clear_value_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    (tmp_path / "not-a-bundle").write_text("hello")
    monkeypatch.setenv(variable, str(tmp_path / value))
    with pytest.raises(ValueError, match=rf"{variable}.*trust_env=False"):
        UprockClient("k", base_url="https://edge.uprock.com")
    UprockClient("k", base_url="https://edge.uprock.com", trust_env=False)  # the way out


async def test_ssl_false_turns_verification_off_and_warns_once(
    tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    (job_id,) = tls.server.add_jobs(1, headers=1, cookies=0)
    with caplog.at_level(logging.WARNING, logger="uprock_async"):
        async with UprockClient(tls.server.api_key, base_url=tls.uprock_url, ssl=False) as client:
            await client.job_detail(job_id)
            await client.with_options(timeout=10).job_detail(job_id)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "uprock_async"
    assert "not verified" in warnings[0].getMessage()


# -- secrets ----------------------------------------------------------------------------


async def test_proxy_credentials_reach_the_proxy_and_nothing_else(
    server: FakeServer, tls: Tls, guarded: ForwardProxy, ca: trustme.CA
) -> None:
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    url = with_credentials(guarded.url)
    async with UprockClient(server.api_key, base_url=server.uprock_url, proxy=url) as client:
        await client.job_detail(job_id)
        assert_no_secret([repr(client), str(client)])
    async with UprockClient(
        server.api_key, base_url=tls.uprock_url, proxy=url, ssl=trusting(ca)
    ) as client:
        await client.job_detail(job_id)  # the CONNECT carries them
    assert [(s.method, s.authorization) for s in guarded.seen] == [
        ("GET", basic(USER, PASSWORD)),
        ("CONNECT", basic(USER, PASSWORD)),
    ]
    assert all("Proxy-Authorization" not in r.headers for r in server.requests)


@pytest.mark.parametrize("target", ["http", "https", "proxy down", "environment"])
async def test_proxy_credentials_are_unreachable_from_errors_and_logs(
    tls: Tls,
    guarded: ForwardProxy,
    ca: trustme.CA,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    # The proxy refuses these credentials (407); its answer to a CONNECT quotes the
    # proxy URL, credentials included, in aiohttp's exception.
    wrong = with_credentials(guarded.url, f"{USER}:{quote(PASSWORD + '-old', safe='')}")
    proxy: str | None = wrong if target != "proxy down" else with_credentials(DEAD)
    base = tls.uprock_url if target in ("https", "environment") else tls.server.uprock_url
    if target == "environment":
        monkeypatch.setenv("HTTPS_PROXY", wrong)
        proxy = None
    caplog.set_level(logging.DEBUG)
    async with UprockClient(
        tls.server.api_key, base_url=base, proxy=proxy, ssl=trusting(ca), retry=FAST_RETRY
    ) as client:
        with pytest.raises(UprockAsyncError) as caught:
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
        shown = [repr(client), str(client)]
    if target == "http":
        assert isinstance(caught.value, APIStatusError)
        assert caught.value.status_code == 407
    else:
        assert isinstance(caught.value, APIConnectionError)
    texts = [*reachable(caught.value), *shown]
    texts += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    assert_no_secret(texts, SECRETS + secrets_of(PASSWORD + "-old"))  # a wrong one too


async def test_a_tunnel_the_proxy_refuses_with_407_is_not_retried(
    tls: Tls, guarded: ForwardProxy, ca: trustme.CA
) -> None:
    """Wrong proxy credentials stay wrong: one CONNECT, then a connection error
    that says the proxy refused (never the request's server)."""
    wrong = with_credentials(guarded.url, f"{USER}:{quote(PASSWORD + '-old', safe='')}")
    async with UprockClient(
        tls.server.api_key, base_url=tls.uprock_url, proxy=wrong, ssl=trusting(ca),
        retry=FAST_RETRY,
    ) as client:  # fmt: skip
        with pytest.raises(APIConnectionError, match="the proxy refused the tunnel") as caught:
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
        stats = client.stats()
    assert [seen.method for seen in guarded.seen] == ["CONNECT"]
    assert (stats.requests, stats.retries) == (1, 0)
    assert "407" in str(caught.value)
    assert tls.server.requests == []  # nothing reached the service


@pytest.mark.parametrize(
    "bad", ["ftp://{c}@proxy:21", "http://{c}@", "http://{c}@proxy:3128/path", "http://{c}@p:99999"]
)
def test_a_bad_proxy_url_is_refused_without_showing_its_credentials(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = bad.replace("{c}", CREDENTIALS)
    with pytest.raises(ValueError, match="proxy") as caught:
        UprockClient("k", base_url="https://edge.uprock.com", proxy=url)
    assert_no_secret(reachable(caught.value))
    monkeypatch.setenv("HTTPS_PROXY", url)
    with pytest.raises(ValueError, match=r"HTTPS_PROXY.*trust_env=False") as caught:
        UprockClient("k", base_url="https://edge.uprock.com")
    assert_no_secret(reachable(caught.value))


# -- .netrc -----------------------------------------------------------------------------


@pytest.fixture
def netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ~/.netrc (HOME and NETRC both point at it) with an entry for the API host."""
    path = tmp_path / ".netrc"
    path.write_text("machine 127.0.0.1\n  login netrc-user\n  password netrc-password\n")
    path.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(path))
    return path


async def test_a_netrc_entry_for_the_api_host_changes_nothing(
    server: FakeServer, netrc: Path
) -> None:
    # Proof that the file is live: aiohttp's own trust_env would send its entry.
    async with (
        aiohttp.ClientSession(trust_env=True) as session,
        session.get(f"{server.screenshotcenter_url}/account/info") as resp,
    ):
        await resp.read()
    assert server.requests[-1].headers["Authorization"].startswith("Basic ")
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with UprockClient(server.api_key, base_url=server.uprock_url) as uprock:
        await uprock.job_detail(job_id)  # no ValueError next to our Authorization header
    assert server.requests[-1].headers["Authorization"] == f"Bearer {server.api_key}"
    async with ScreenshotCenterClient(server.api_key, base_url=server.screenshotcenter_url) as sc:
        await sc.account_info()
    assert "Authorization" not in server.requests[-1].headers
    assert server.requests[-1].headers["X-API-KEY"] == server.api_key


# -- SOCKS ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["proxy=", "ALL_PROXY"])
def test_socks5_without_the_extra_is_a_clear_value_error(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # not installed
    socks = with_credentials("socks5://127.0.0.1:1080")
    proxy = socks if where == "proxy=" else None
    if where == "ALL_PROXY":
        monkeypatch.setenv("ALL_PROXY", socks)
    with pytest.raises(ValueError, match=r"uprock-async\[socks\]") as caught:
        UprockClient("k", base_url="https://edge.uprock.com", proxy=proxy)
    assert_no_secret(reachable(caught.value))
    assert ("trust_env=False" in str(caught.value)) is (where == "ALL_PROXY")


async def test_a_socks5_proxy_carries_every_request(
    server: FakeServer, tls: Tls, ca: trustme.CA
) -> None:
    pytest.importorskip("aiohttp_socks")
    (job_id,) = server.add_jobs(1, headers=1, cookies=0)
    async with Socks5Proxy(credentials=(USER, PASSWORD)) as socks:
        url = with_credentials(f"socks5://127.0.0.1:{socks.port}")
        async with UprockClient(server.api_key, base_url=server.uprock_url, proxy=url) as client:
            await client.job_detail(job_id)
            assert_no_secret([repr(client)])
        async with UprockClient(
            server.api_key, base_url=tls.uprock_url, proxy=url, ssl=trusting(ca)
        ) as client:
            await client.job_detail(job_id)
        assert socks.seen == [
            ("127.0.0.1", server.port, USER),
            ("127.0.0.1", tls.door.port, USER),
        ]


@pytest.mark.parametrize("failure", ["wrong password", "proxy down", "certificate"])
async def test_a_socks5_failure_is_a_connection_error_without_credentials(
    tls: Tls, failure: str
) -> None:
    pytest.importorskip("aiohttp_socks")
    expected = PASSWORD + "-new" if failure == "wrong password" else PASSWORD
    async with Socks5Proxy(credentials=(USER, expected)) as socks:
        port = 9 if failure == "proxy down" else socks.port
        url = with_credentials(f"socks5h://127.0.0.1:{port}")
        base = tls.uprock_url if failure == "certificate" else tls.server.uprock_url
        async with UprockClient(
            tls.server.api_key, base_url=base, proxy=url, retry=0, trust_env=False
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
    if failure == "certificate":
        assert "certificate" in str(caught.value)
    assert_no_secret(reachable(caught.value))


# -- arguments --------------------------------------------------------------------------


async def test_a_session_of_your_own_refuses_network_settings() -> None:
    async with aiohttp.ClientSession() as session:
        for settings in ({"proxy": DEAD}, {"ssl": False}, {"trust_env": False}):
            with pytest.raises(ValueError, match="session"):
                UprockClient("k", session=session, **settings)
        client = UprockClient("k", session=session, trust_env=True, ssl=True)  # the defaults
        await client.aclose()


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"proxy": 3128}, TypeError),
        ({"proxy": URL("http://proxy:3128")}, TypeError),
        ({"proxy": " http://proxy:3128"}, ValueError),
        ({"ssl": "/etc/corporate.pem"}, TypeError),
        ({"ssl": None}, TypeError),
        ({"trust_env": 1}, TypeError),
    ],
)
def test_bad_network_settings_are_refused(settings: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        UprockClient("k", base_url="https://edge.uprock.com", **settings)  # type: ignore[arg-type]


def test_blocking_clients_take_the_network_settings(ca: trustme.CA) -> None:
    proxy = with_credentials("http://127.0.0.1:3128")
    for cls in (blocking.UprockClient, blocking.ScreenshotCenterClient):
        with cls("k", proxy=proxy, trust_env=False, ssl=trusting(ca)) as client:
            assert_no_secret([repr(client)])


def test_the_network_repr_hides_credentials() -> None:
    network = Network.build(with_credentials("http://proxy:3128"), base_url="https://x.test")
    assert repr(network) == "Network(proxy='http://proxy:3128', trust_env=True, ssl=True)"
