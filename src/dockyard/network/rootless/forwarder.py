"""The host side of a rootless root's network: one process per user, started by
`rootless.start_outside` and living as long as the user's pause process. It starts its link
again when the link dies; one that cannot be started again ends it, and the user's next
command starts a new helper (rootless/pause.py).

It gives the rootless netns (the pause process's network namespace) its way out — pasta, or
slirp4netns where pasta is missing (`link.py`) — and forwards the published ports: it listens
on the host, where an ordinary user may bind ports from `net.ipv4.ip_unprivileged_port_start`
up, and connects into the rootless netns straight to the container's address, moving the bytes
with splice(2) through a pipe (they never enter user space), one thread a connection. pasta's own forwarding can't be
changed without restarting it (cutting every container's connections), and its `-t auto` follows
only listening sockets of the namespace itself, at its next periodic scan.

Sockets in the rootless netns come from a child that joined the pause process's user and
network namespaces at start (only a single-threaded process may join a user namespace, and a
socket stays in the namespace it was made in); it hands each one over a socketpair
(SCM_RIGHTS), about 30 µs a connection.

Control: one JSON request, one JSON answer per connection on `<dir>/ports.sock`:
`{"publish": [[host_ip, host_port, proto, target_ip, target_port], ...]}` (all or nothing),
`{"unpublish": [[host_ip, host_port, proto], ...]}`, `{"list": true}`.

Run as `python -m dockyard.network.rootless.forwarder PAUSE_PID DIR`: it detaches, and exits 0
once the link is up and the control socket listens, or 1 with one line on stderr.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import sys
import threading
from pathlib import Path

from dockyard.network.rootless import link, remove_files

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20       # a splice moves up to this much at once
CONNECT_TIMEOUT = 10.0
UDP_IDLE = 60.0            # a UDP client's flow is forgotten after this long without a datagram
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


class PortError(Exception):
    """A publish the host refuses; `kind` tells the caller which error class to raise."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


class Maker:
    """Makes sockets in the rootless netns through a child that lives there."""

    def __init__(self, pause_pid: int) -> None:
        fds = [os.open(f"/proc/{pause_pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in ("user", "net")]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            _serve_sockets(theirs, fds, parent)
        for fd in fds:
            os.close(fd)
        theirs.close()
        self._sock = ours
        self._lock = threading.Lock()
        answer = ours.recv(4096)
        if answer != b"ok":
            raise PortError("error", answer.decode(errors="replace").lstrip("!")
                            or "cannot enter the rootless network namespace")

    def socket(self, family: int, kind: int) -> socket.socket:
        request = (b"6" if family == socket.AF_INET6 else b"4") + (b"t" if kind == socket.SOCK_STREAM else b"u")
        with self._lock:
            self._sock.send(request)
            _, fds, _, _ = socket.recv_fds(self._sock, 16, 1)
        if not fds:
            raise OSError(errno.EIO, "the rootless netns socket maker is gone")
        return socket.socket(fileno=fds[0])

    def close(self) -> None:
        self._sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _serve_sockets(sock: socket.socket, ns_fds: list[int], parent: int) -> None:
    """The maker child: join the namespaces, then answer each request with a fresh socket."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        libc.prctl(link.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(0)
        for fd, flag, ns in zip(ns_fds, (CLONE_NEWUSER, CLONE_NEWNET), ("user", "net")):
            if os.fstat(fd).st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino:
                continue  # started from inside already (joining one's own user namespace is EINVAL)
            if libc.setns(fd, flag) != 0:
                raise OSError(ctypes.get_errno(), "cannot enter the rootless network namespace")
        sock.send(b"ok")
        while request := sock.recv(16):
            family = socket.AF_INET6 if request[:1] == b"6" else socket.AF_INET
            kind = socket.SOCK_STREAM if request[1:2] == b"t" else socket.SOCK_DGRAM
            with socket.socket(family, kind) as s:
                socket.send_fds(sock, [b"s"], [s.fileno()])
    except OSError as e:
        try:
            sock.send(f"!{e.strerror or e}".encode())
        except OSError:
            pass
    os._exit(0)


def _relay(client: socket.socket, upstream: socket.socket, target: tuple[str, int]) -> None:
    """Connect, then move both directions' bytes on this one thread, each through a pipe with
    splice(2), until each sender has closed its half (or either side resets)."""
    try:
        upstream.settimeout(CONNECT_TIMEOUT)
        upstream.connect(target)
    except OSError:
        client.close()
        upstream.close()
        return
    ends = ((client, upstream), (upstream, client))
    pipes = [os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK) for _ in ends]
    for _, w in pipes:
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # above fs.pipe-max-size: the default 64 KiB pipe works too
    for s in (client, upstream):
        s.setblocking(False)
    queued, closed = [0, 0], [False, False]  # per direction: bytes in its pipe, sender done
    poll = select.poll()
    try:
        while not all(closed):
            wanted = {client.fileno(): 0, upstream.fileno(): 0}
            for i, (src, dst) in enumerate(ends):
                if not closed[i]:
                    wanted[dst.fileno() if queued[i] else src.fileno()] |= select.POLLOUT if queued[i] else select.POLLIN
            for fd, mask in wanted.items():
                if mask:
                    poll.register(fd, mask)  # registering again replaces the mask
                else:  # not even its hang-up may wake us while nothing is to be done with it
                    try:
                        poll.unregister(fd)
                    except KeyError:
                        pass
            poll.poll()
            for i, (src, dst) in enumerate(ends):
                if closed[i]:
                    continue
                r, w = pipes[i]
                if not queued[i]:
                    try:
                        queued[i] = os.splice(src.fileno(), w, PIPE_SIZE, flags=os.SPLICE_F_NONBLOCK)
                    except BlockingIOError:
                        continue
                    if not queued[i]:  # the sender closed its half: pass that on
                        dst.shutdown(socket.SHUT_WR)
                        closed[i] = True
                        continue
                try:
                    queued[i] -= os.splice(r, dst.fileno(), queued[i], flags=os.SPLICE_F_NONBLOCK)
                except BlockingIOError:
                    pass
    except OSError:  # a reset on either side ends both directions
        pass
    finally:
        for fd in (fd for pair in pipes for fd in pair):
            os.close(fd)
        client.close()
        upstream.close()


class Port:
    """One published port: its host listener and where it goes."""

    def __init__(self, key: tuple[str, int, str], target: tuple[str, int]) -> None:
        self.key, self.target = key, target
        host_ip, host_port, proto = key
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        self.sock = _bind(host_ip, host_port, kind)
        self.flows: dict[tuple, socket.socket] = {}  # UDP: client address -> its socket in the netns
        self.lock = threading.Lock()

    def close(self) -> None:
        self.sock.close()
        with self.lock:
            for s in self.flows.values():
                s.close()
            self.flows.clear()


def _bind(host_ip: str, port: int, kind: int) -> socket.socket:
    """A listener on `host_ip` (every address, IPv6 too where the host has it, for "")."""
    where = f"{host_ip or '0.0.0.0'}:{port}"
    family = socket.AF_INET6 if not host_ip and socket.has_ipv6 else socket.AF_INET
    try:
        sock = socket.socket(family, kind)
    except OSError:  # IPv6 disabled in the kernel
        family, sock = socket.AF_INET, socket.socket(socket.AF_INET, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::" if family == socket.AF_INET6 else host_ip or "0.0.0.0", port))
        if kind == socket.SOCK_STREAM:
            sock.listen(512)
        sock.setblocking(False)
        return sock
    except OSError as e:
        sock.close()
        if e.errno == errno.EACCES:
            start = _read(UNPRIVILEGED_PORT_START) or "1024"
            raise PortError("forbidden", f"cannot publish port {port}: an ordinary user may not bind ports below "
                                         f"net.ipv4.ip_unprivileged_port_start ({start}) on this host; lower it "
                                         f"(sysctl -w net.ipv4.ip_unprivileged_port_start={port}) or publish "
                                         f"a port from {start} up") from None
        if e.errno == errno.EADDRINUSE:
            raise PortError("conflict", f"Bind for {where} failed: port is already allocated") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise PortError("invalid", f"cannot publish {where}: {host_ip} is no address of this host") from None
        raise PortError("error", f"cannot publish {where}: {e.strerror}") from None


class Forwarder:
    def __init__(self, maker: Maker, control: socket.socket, way_out: link.Link, directory: Path) -> None:
        self.maker, self.control, self.way_out, self.directory = maker, control, way_out, directory
        self.ports: dict[tuple[str, int, str], Port] = {}
        self.sel = selectors.DefaultSelector()
        self.sel.register(control, selectors.EVENT_READ, "control")

    def serve(self, pause_pid: int, pause_pidfd: int) -> None:
        """Until the pause process ends, or its link dies and cannot be started again (the next
        command then starts a new helper: rootless/pause.py)."""
        self.sel.register(pause_pidfd, selectors.EVENT_READ, "pause")
        self._watch_link()
        while True:
            for key, _ in self.sel.select():
                if key.data == "pause":
                    return
                if key.data == "link":
                    if not self._relink(pause_pid, key.fileobj):
                        return
                elif key.data == "control":
                    self._control()
                elif key.data.key[2] == "tcp":
                    self._accept(key.data)
                else:
                    self._datagram(key.data)

    def _watch_link(self) -> None:
        self.sel.register(os.pidfd_open(self.way_out.pid), selectors.EVENT_READ, "link")

    def _relink(self, pause_pid: int, pidfd: int) -> bool:
        """The link died (killed, crashed): start it again; the published ports never stopped."""
        self.sel.unregister(pidfd)
        os.close(pidfd)
        link.stop(self.way_out)  # reaps it
        try:
            self.way_out = link.start(pause_pid, self.directory)
        except link.LinkError:
            return False
        self._watch_link()
        return True

    def _accept(self, port: Port) -> None:
        try:
            client, _ = port.sock.accept()
        except OSError:
            return
        try:
            client.setblocking(True)
            upstream = self.maker.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            client.close()
            return
        threading.Thread(target=_relay, args=(client, upstream, port.target), daemon=True).start()

    def _datagram(self, port: Port) -> None:
        try:
            data, peer = port.sock.recvfrom(65535)
        except OSError:
            return
        with port.lock:
            flow = port.flows.get(peer)
        if flow is None:
            try:
                flow = self.maker.socket(socket.AF_INET, socket.SOCK_DGRAM)
            except OSError:
                return
            try:
                flow.connect(port.target)
            except OSError:
                flow.close()
                return
            with port.lock:
                port.flows[peer] = flow
            threading.Thread(target=_replies, args=(port, peer, flow), daemon=True).start()
        try:
            flow.send(data)
        except OSError:
            pass

    def _control(self) -> None:
        try:
            conn, _ = self.control.accept()
        except OSError:
            return
        with conn:
            conn.setblocking(True)
            conn.settimeout(5)
            try:
                request = json.loads(_read_line(conn))
                answer = self.handle(request)
            except PortError as e:
                answer = {"error": e.message, "kind": e.kind}
            except (OSError, ValueError, TypeError, KeyError) as e:
                answer = {"error": f"bad request: {e}", "kind": "error"}
            try:
                conn.sendall(json.dumps(answer).encode() + b"\n")
            except OSError:
                pass

    def handle(self, request: dict) -> dict:
        if "publish" in request:
            self.publish([((str(h), int(p), str(proto)), (str(ip), int(tp))) for h, p, proto, ip, tp in request["publish"]])
        elif "unpublish" in request:
            for h, p, proto in request["unpublish"]:
                self._drop((str(h), int(p), str(proto)))
        elif "list" not in request:
            raise PortError("error", f"unknown request {sorted(request)}")
        return {"ports": [[*k, *port.target] for k, port in sorted(self.ports.items())]}

    def publish(self, wanted: list[tuple[tuple[str, int, str], tuple[str, int]]]) -> None:
        made: list[Port] = []
        try:
            for key, target in wanted:
                if key[2] not in ("tcp", "udp"):
                    raise PortError("invalid", f"unknown protocol {key[2]!r}")
                current = self.ports.get(key)
                if current is not None:
                    current.target = target  # the same host port again: now to this target
                    continue
                made.append(Port(key, target))
        except PortError:
            for port in made:
                port.close()
            raise
        for port in made:
            self.ports[port.key] = port
            self.sel.register(port.sock, selectors.EVENT_READ, port)

    def _drop(self, key: tuple[str, int, str]) -> None:
        port = self.ports.pop(key, None)
        if port is not None:
            self.sel.unregister(port.sock)
            port.close()


def _replies(port: Port, peer: tuple, flow: socket.socket) -> None:
    """Send a UDP flow's answers back to its client until it has been idle for UDP_IDLE."""
    flow.settimeout(UDP_IDLE)
    try:
        while True:
            data = flow.recv(65535)
            port.sock.sendto(data, peer)
    except OSError:
        pass
    with port.lock:
        if port.flows.get(peer) is flow:
            del port.flows[peer]
    flow.close()


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> None:
    pause_pid, directory = (argv or sys.argv[1:])[:2]
    directory = Path(directory)
    r, w = os.pipe()
    if os.fork():  # the starter: wait for the daemon's word
        os.close(w)
        # one read: the daemon's children hold copies of the pipe, so EOF may never come
        word = os.read(r, 4096).decode(errors="replace").strip()
        if word != "ok":
            sys.stderr.write((word or "the rootless network helper died while starting") + "\n")
            sys.exit(1)
        sys.exit(0)
    os.close(r)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    state = None
    try:
        pidfd = os.pidfd_open(int(pause_pid))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = link.start(int(pause_pid), directory)
        maker = Maker(int(pause_pid))
        sock_path = directory / "ports.sock"
        sock_path.unlink(missing_ok=True)
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.bind(str(sock_path))
        control.listen(64)
        control.setblocking(False)
        _write_atomic(directory / "forwarder.pid", f"{os.getpid()}\n")
    except (OSError, PortError, link.LinkError) as e:
        if state is not None:
            link.stop(state)
        os.write(w, (getattr(e, "message", None) or str(e)).encode())
        os._exit(1)
    os.write(w, b"ok")
    os.close(w)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    forwarder = Forwarder(maker, control, state, directory)
    try:
        forwarder.serve(int(pause_pid), pidfd)
    finally:
        for key in list(forwarder.ports):
            forwarder._drop(key)
        maker.close()
        link.stop(forwarder.way_out)
        remove_files(directory)
        os._exit(0)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    main()
