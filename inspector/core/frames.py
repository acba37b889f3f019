"""Length-prefixed frames over a blocking socket: how the project's helper processes
(the session writer, export workers) talk to the process that started them."""

from __future__ import annotations

import select
import socket
import struct

HEADER = struct.Struct("!I")


class FrameSocket:
    """Frames of bytes, each preceded by its length (4 bytes, network order)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def recv(self) -> bytes:
        """The next frame; EOFError when the other side has closed."""
        while True:
            if len(self._buf) >= 4:
                (n,) = HEADER.unpack_from(self._buf)
                if len(self._buf) >= 4 + n:
                    data = bytes(self._buf[4 : 4 + n])
                    del self._buf[: 4 + n]
                    return data
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk

    def waiting(self, timeout: float) -> bool:
        """Whether the other side sends anything (or closes) within ``timeout`` seconds."""
        return bool(self._buf) or bool(select.select([self._sock], [], [], timeout)[0])

    def send(self, data: bytes) -> None:
        self._sock.sendall(HEADER.pack(len(data)) + data)

    def close(self) -> None:
        self._sock.close()
