"""A minimal RFC 6455 websocket client (text frames only; enough for ComfyUI's ``/ws``).

Framing and the handshake follow RFC 6455 (https://www.rfc-editor.org/rfc/rfc6455): client
frames are masked (section 5.3), ``Sec-WebSocket-Accept`` is the base64 SHA-1 of the key and
the GUID (section 4.2.2), pings are answered with pongs (section 5.5.2).
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """A final client frame (masked, as clients must)."""
    mask = mask if mask is not None else os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_decode_frame(buf: bytes) -> tuple[tuple[bool, int, bytes] | None, int]:
    """Parse one frame from ``buf``: ((fin, opcode, payload), bytes used) or (None, 0) if incomplete."""
    if len(buf) < 2:
        return None, 0
    fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
    masked, n = bool(buf[1] & 0x80), buf[1] & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None, 0
        n = struct.unpack(">H", buf[2:4])[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None, 0
        n = struct.unpack(">Q", buf[2:10])[0]
        pos = 10
    mask = b""
    if masked:
        if len(buf) < pos + 4:
            return None, 0
        mask = buf[pos:pos + 4]
        pos += 4
    if len(buf) < pos + n:
        return None, 0
    payload = buf[pos:pos + n]
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return (fin, opcode, payload), pos + n


class WebSocket:
    """Blocking websocket client: ``recv(timeout)`` returns a text message, None on timeout."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname, port), timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        self.sock = sock
        self.buf = b""
        self.fragments: list[bytes] = []
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("websocket handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise OSError(f"websocket handshake refused: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if headers.get("sec-websocket-accept") != ws_accept_key(key):
            raise OSError("websocket handshake: bad Sec-WebSocket-Accept")

    def recv(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            frame, used = ws_decode_frame(self.buf)
            if frame is not None:
                self.buf = self.buf[used:]
                fin, opcode, payload = frame
                if opcode == 0x8:
                    raise EOFError("websocket closed by the server")
                if opcode == 0x9:
                    self.sock.sendall(ws_encode_frame(0xA, payload))
                    continue
                if opcode == 0xA:
                    continue
                if opcode in (0x1, 0x2):
                    self.fragments = [payload]
                    self._binary = opcode == 0x2
                elif opcode == 0x0:
                    self.fragments.append(payload)
                if fin:
                    data, self.fragments = b"".join(self.fragments), []
                    if not getattr(self, "_binary", False):
                        return data.decode("utf-8", "replace")
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError("websocket closed")
            self.buf += chunk

    def close(self) -> None:
        try:
            self.sock.sendall(ws_encode_frame(0x8, struct.pack(">H", 1000)))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
