"""libnftables, the library the `nft` command is a thin front of, called in this process.

An `nft -j -f -` process took 10-23 ms per batch on this host (its start, and its library's
set-up), where the same batch through the library in-process takes 0.5-3 ms: every `run -p`
and every removal of a container with published ports runs one. A context is made per call,
so its netlink socket is opened by the calling thread and lives in that thread's network
namespace (a rootless engine's network calls run on a thread inside the user's namespace).
"""

from __future__ import annotations

import ctypes
import threading

from dockyard.errors import DockyardError

_OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON: JSON out, and JSON accepted as input
_lib = None
_last = None  # the last call's context, freed by the next call
_load_lock = threading.Lock()


def run(text: str) -> tuple[bool, str, str]:
    """Run nft commands (JSON or nft's own syntax) as one batch: (ok, output, errors)."""
    global _last
    lib = _library()
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise DockyardError("cannot use nftables: libnftables could not make a context")
    try:
        lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        out, err = lib.nft_ctx_get_output_buffer(ctx), lib.nft_ctx_get_error_buffer(ctx)
        return rc == 0, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")
    finally:
        # Closing the context's socket right after a batch that deleted anything (an unpublished
        # port) waits for an RCU grace period, ~8-15 ms: nf_tables finishes its pending frees
        # then. So a context is freed at the next call, or closed by the process's exit, by
        # when that has passed; only one is ever kept.
        with _load_lock:
            ctx, _last = _last, ctx
        if ctx:
            lib.nft_ctx_free(ctx)


def _library() -> ctypes.CDLL:
    global _lib
    with _load_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libnftables.so.1")
            except OSError as e:
                raise DockyardError(f"cannot use nftables: {e} (install nftables)") from None
            vp, cp = ctypes.c_void_p, ctypes.c_char_p
            for name, args, result in (("nft_ctx_new", [ctypes.c_uint32], vp), ("nft_ctx_free", [vp], None),
                                       ("nft_ctx_output_set_flags", [vp, ctypes.c_uint], None),
                                       ("nft_ctx_buffer_output", [vp], ctypes.c_int),
                                       ("nft_ctx_buffer_error", [vp], ctypes.c_int),
                                       ("nft_run_cmd_from_buffer", [vp, cp], ctypes.c_int),
                                       ("nft_ctx_get_output_buffer", [vp], cp),
                                       ("nft_ctx_get_error_buffer", [vp], cp)):
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, result
            _lib = lib
        return _lib
