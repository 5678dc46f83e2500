"""The lean httpx transport against a scripted HTTP/1.1 server on loopback: keep-alive, bodies in
each framing HTTP allows, and every failure surfacing as the httpx exception callers classify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from connectors.lean_transport import LeanTransport


HANG_UP = b"<hang up>"
"""At the end of an answer: the server closes the connection after writing what comes before it."""


class Server:
    """Answers each request with ``respond(request_number, head, body)`` -> raw bytes (None: hang up
    without answering; ending in HANG_UP: hang up after writing the rest)."""

    def __init__(self, respond: Callable[[int, bytes, bytes], bytes | None], *, delay_s: float = 0.0) -> None:
        self.respond = respond
        self.delay_s = delay_s
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        for w in self.writers:
            w.close()
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                answer = self.respond(len(self.requests), head, body)
                if answer is None:
                    writer.close()
                    return
                hang_up = answer.endswith(HANG_UP)
                writer.write(answer.removesuffix(HANG_UP))
                await writer.drain()
                if hang_up or b"connection: close" in answer.lower():
                    writer.close()
                    return
        finally:
            self.open -= 1


def ok(body: bytes = b'{"ok": true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _get(transport: LeanTransport, url: str, **kw) -> httpx.Response:
    request = httpx.Request(kw.pop("method", "GET"), url, extensions={"timeout": kw.pop("timeout", {})}, **kw)
    response = await transport.handle_async_request(request)
    await response.aread()
    return response


async def test_keeps_the_connection_alive_and_sends_the_request_intact():
    async with Server(lambda n, head, body: ok(b'{"n": %d}' % n)) as srv:
        t = LeanTransport()
        for i in range(1, 6):
            r = await _get(t, srv.url + "/api.xro/2.0/Contacts?page=2", method="POST", content=b'{"Name": "Acme"}',
                           headers={"Idempotency-Key": f"k{i}", "Content-Type": "application/json"})
            assert (r.status_code, r.json(), r.headers["content-type"]) == (200, {"n": i}, "application/json")
        assert srv.connections == 1
        head, body = srv.requests[-1]
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /api.xro/2.0/Contacts?page=2 HTTP/1.1"
        assert "Idempotency-Key: k5" in lines and f"Host: {srv.url.removeprefix('http://')}" in lines
        assert "Content-Length: 16" in lines and body == b'{"Name": "Acme"}'
        await t.aclose()


async def test_chunked_and_close_delimited_bodies():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    close_delimited = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    async with Server(lambda n, head, body: chunked if n == 1 else close_delimited) as srv:
        t = LeanTransport()
        assert (await _get(t, srv.url)).content == b"hello world"
        assert (await _get(t, srv.url)).content == b"until the end"
        assert (await _get(t, srv.url)).content == b"until the end"  # a closed connection is not reused
        assert srv.connections == 2
        await t.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async with Server(lambda n, head, body: ok()) as srv:
        t = LeanTransport()
        await _get(t, srv.url)
        srv.writers[0].close()  # the server's keep-alive timeout
        await asyncio.sleep(0.05)
        assert (await _get(t, srv.url)).status_code == 200
        assert srv.connections == 2
        await t.aclose()


async def test_keep_alive_hint_and_idle_expiry():
    async with Server(lambda n, head, body: ok(extra=b"Keep-Alive: timeout=1\r\n")) as srv:
        t = LeanTransport(keepalive_s=30)
        await _get(t, srv.url)
        await asyncio.sleep(0.05)  # timeout=1 leaves 0 s of idle use: the next request reconnects
        await _get(t, srv.url)
        assert srv.connections == 2
        await t.aclose()


async def test_read_timeout_discards_the_connection():
    async with Server(lambda n, head, body: ok(), delay_s=0.5) as srv:
        t = LeanTransport()
        with pytest.raises(httpx.ReadTimeout):
            await _get(t, srv.url, timeout={"read": 0.05})
        assert t._open == set() and not any(t._idle.values())
        srv.delay_s = 0
        assert (await _get(t, srv.url)).status_code == 200
        assert srv.connections == 2
        await t.aclose()


@pytest.mark.parametrize("answer, message", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort" + HANG_UP, "without a complete response"),
    (b"NOT HTTP AT ALL\r\n\r\n", "malformed HTTP response"),
    (None, "without a complete response"),
])
async def test_broken_answers_are_protocol_errors(answer, message):
    async with Server(lambda n, head, body: answer if n == 1 else ok()) as srv:
        t = LeanTransport()
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await _get(t, srv.url)
        assert (await _get(t, srv.url)).status_code == 200  # a fresh connection afterwards
        await t.aclose()


async def test_connect_errors():
    t = LeanTransport()
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(httpx.ConnectError, match=f"127.0.0.1:{port}"):
        await _get(t, f"http://127.0.0.1:{port}/")
    with pytest.raises(httpx.UnsupportedProtocol):
        await _get(t, "ftp://127.0.0.1/")
    await t.aclose()


async def test_at_most_max_connections_and_the_pool_timeout():
    async with Server(lambda n, head, body: ok(), delay_s=0.1) as srv:
        t = LeanTransport(max_connections=2)
        answers = await asyncio.gather(*(_get(t, srv.url) for _ in range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        assert srv.max_open == 2
        first = [asyncio.create_task(_get(t, srv.url)) for _ in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(httpx.PoolTimeout):
            await _get(t, srv.url, timeout={"pool": 0.02})
        await asyncio.gather(*first)
        await t.aclose()


async def test_api_client_over_the_lean_transport_classifies_failures():
    from connectors.errors import DownstreamError, TimeoutError
    from connectors.http import ApiClient

    async with Server(lambda n, head, body: ok(b'{"id": 1}') if n == 1 else None, delay_s=0.0) as srv:
        client = ApiClient(srv.url, transport="lean", timeout_s=0.2)
        assert (await client.request("GET", "/x")).body == {"id": 1}
        with pytest.raises(DownstreamError, match="connection failed"):
            await client.request("GET", "/x")  # the server hangs up without answering
        srv.delay_s, srv.respond = 0.5, (lambda n, head, body: ok())
        with pytest.raises(TimeoutError):
            await client.request("GET", "/x")
        await client.aclose()


async def test_https_with_the_servers_certificate(tmp_path):
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with Server(lambda n, head, body: ok(b'{"tls": true}')) as srv:
        srv.server.close()
        tls = await asyncio.start_server(srv._handle, "127.0.0.1", 0, ssl=server_ctx)
        port = tls.sockets[0].getsockname()[1]
        trusted = LeanTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        r = await _get(trusted, f"https://localhost:{port}/")
        await _get(trusted, f"https://localhost:{port}/")
        assert r.json() == {"tls": True} and srv.connections == 1
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await _get(LeanTransport(), f"https://localhost:{port}/")  # the system's roots do not know it
        await trusted.aclose()
        tls.close()


async def test_an_encoded_body_is_decoded_by_httpx():
    import gzip

    packed = gzip.compress(b'{"packed": true}')
    async with Server(lambda n, head, body: b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(packed), packed)) as srv:
        t = LeanTransport()
        assert (await _get(t, srv.url)).json() == {"packed": True}
        await t.aclose()


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    """An id from a webhook ends up in a header (Idempotency-Key): a CR or LF in it must not add
    headers of its own, on either path into the transport."""
    transport = LeanTransport()
    url = httpx.URL("http://127.0.0.1:9/x")  # nothing listens: refused before connecting
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await transport.send("POST", url, {"Host": "127.0.0.1:9", "Idempotency-Key": "k\r\nX-Evil: 1"}, b"",
                             {"pool": 1, "connect": 1, "read": 1})
    request = httpx.Request("POST", url, headers={"Idempotency-Key": "k\nX-Evil: 1"})
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await transport.handle_async_request(request)
    await transport.aclose()
