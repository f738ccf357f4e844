"""What crosses the process boundary: plain data only, never a pickle.

A message is a JSON document plus a list of NumPy arrays: raw bytes under a plain dtype (its
.str, refused when it holds objects) or, for a structured dtype, .npy read with allow_pickle=False,
so a message cannot run code in the process that decodes it.
Python values keep their types (tuple, list, dict, int, float, bool, str, None, NumPy scalars);
an array keeps its dtype, its memory layout (C or Fortran order, a strided view, negative
strides) and its read-only flag, so that the worker hands the implementation exactly what the
check built. Anything else is sent as what NumPy reads from it, with its type's name, so that the
checks can still say "a Tensor, but should be a numpy.ndarray".
"""
import io
import json
import struct

import numpy as np

MAX_ARRAYS = 10_000


class Foreign:
    """Stands in, in the suite's process, for an object of another library (a torch.Tensor, a
    tf.Tensor, a jax Array) that a call returned: its type's name, and what NumPy read from it
    (or the error NumPy raised, raised again when it is read)."""

    def __init__(self, value, error=None):
        self._value, self._error = value, error

    def __array__(self, dtype=None, copy=None):
        if self._error is not None:
            raise self._error
        return self._value if dtype is None else self._value.astype(dtype)


_FOREIGN = {}


def foreign_type(name: str, module: str) -> type:
    """A stand-in class whose __name__ is the foreign type's (what messages show)."""
    key = (module, name)
    if key not in _FOREIGN:
        _FOREIGN[key] = type(name, (Foreign,), {"__module__": module})
    return _FOREIGN[key]


def _layout(a: np.ndarray):
    """(the buffer to send, its offset, the view's strides) that rebuild a's exact layout."""
    if a.flags.c_contiguous or a.flags.f_contiguous or a.size == 0:
        return None
    base = a
    while isinstance(base.base, np.ndarray):
        base = base.base
    if not (base.flags.c_contiguous or base.flags.f_contiguous):
        return None
    offset = a.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if base.dtype != a.dtype or offset < 0 or offset % a.itemsize:
        return None
    return base.reshape(-1, order="A"), offset // a.itemsize, a.strides


class Encoder:
    """Turns a value into (JSON-able tree, arrays). tokens(a): an id for an array the receiver
    should keep and reuse (the caller's x and y: the same object call after call)."""

    def __init__(self, token=None):
        self.arrays, self.token = [], token

    def add(self, a: np.ndarray) -> int:
        self.arrays.append(a)
        if len(self.arrays) > MAX_ARRAYS:
            raise ValueError("too many arrays in one message")
        return len(self.arrays) - 1

    def tree(self, v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int) and type(v) is int:
            return v
        if isinstance(v, float) and type(v) is float:
            return {"float": repr(v)}  # repr round-trips every float, inf and nan included
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            return {"scalar": self.add(np.asarray(v))}
        if isinstance(v, tuple):
            return {"tuple": [self.tree(i) for i in v]}
        if isinstance(v, list):
            return {"list": [self.tree(i) for i in v]}
        if isinstance(v, dict):
            return {"dict": [[self.tree(k), self.tree(val)] for k, val in v.items()]}
        return self.other(v)

    def array(self, a: np.ndarray) -> dict:
        node = {"array": None, "writeable": bool(a.flags.writeable)}
        if a.dtype.hasobject:
            return {"unreadable": "ndarray", "module": "numpy", "error": ["TypeError", "an array of Python objects"]}
        laid = _layout(a)
        if laid is None:
            node["array"] = self.add(a)
        else:
            flat, offset, strides = laid
            node.update(array=self.add(flat), offset=offset, strides=list(strides), shape=list(a.shape))
        if self.token is not None:
            node["token"] = self.token(a)
        return node

    def other(self, v):
        kind = type(v)
        if hasattr(v, "keys") and hasattr(v, "__getitem__"):  # a mapping of another type
            return {"dict": [[self.tree(k), self.tree(v[k])] for k in list(v.keys())], "type": kind.__name__}
        try:
            a = np.asarray(v)
            if a.dtype.hasobject:
                raise TypeError(f"NumPy reads a {kind.__name__} only as an array of Python objects")
        except Exception as e:  # noqa: BLE001 - whatever the other library raises, said by name
            return {"unreadable": kind.__name__, "module": kind.__module__,
                    "error": [type(e).__name__, str(e).splitlines()[0][:300] if str(e) else ""]}
        return {"foreign": kind.__name__, "module": kind.__module__, "value": self.add(a)}


def encode(value, token=None) -> bytes:
    enc = Encoder(token)
    tree = json.dumps(enc.tree(value), allow_nan=True).encode()
    parts = [struct.pack("<QI", len(tree), len(enc.arrays)), tree]
    for a in enc.arrays:
        if a.dtype.fields is None and a.dtype.subdtype is None:  # the fast path: .npy's header costs 0.1 ms
            head = json.dumps([a.dtype.str, a.shape, bool(a.flags.f_contiguous and not a.flags.c_contiguous)])
            data = a.tobytes(order="A")
        else:
            buf = io.BytesIO()
            np.save(buf, a, allow_pickle=False)
            head, data = "npy", buf.getvalue()
        head = head.encode()
        parts += [struct.pack("<II", len(head), len(data) >> 32), struct.pack("<I", len(data) & 0xFFFFFFFF),
                  head, data]
    return b"".join(parts)


def _array(head: bytes, data: bytes) -> np.ndarray:
    if head == b"npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    kind, shape, fortran = json.loads(head)
    dtype = np.dtype(kind)
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"an array of dtype {kind!r} is not plain data")
    a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return a.copy(order="K")  # its own writable memory, as np.load gives (the worker can free it, keeping the object)


class Decoder:
    """Rebuilds a value. keep(token, array): the receiver's own array for a token (None: new)."""

    def __init__(self, arrays, keep=None):
        self.arrays, self.keep = arrays, keep

    def tree(self, node):
        if node is None or isinstance(node, (bool, str, int)):
            return node
        if isinstance(node, float):
            return node
        if "float" in node:
            return float(node["float"])
        if "array" in node:
            return self.array(node)
        if "scalar" in node:
            return self.arrays[node["scalar"]][()]
        if "tuple" in node:
            return tuple(self.tree(i) for i in node["tuple"])
        if "list" in node:
            return [self.tree(i) for i in node["list"]]
        if "dict" in node:
            return {self.tree(k): self.tree(v) for k, v in node["dict"]}
        if "foreign" in node:
            return foreign_type(node["foreign"], node["module"])(self.arrays[node["value"]])
        if "unreadable" in node:
            name, text = node["error"]
            import builtins

            cls = getattr(builtins, name, None)
            error = (cls if isinstance(cls, type) and issubclass(cls, Exception) else RuntimeError)(text)
            return foreign_type(node["unreadable"], node["module"])(None, error)
        raise ValueError(f"unknown node {sorted(node)}")

    def array(self, node) -> np.ndarray:
        a = self.arrays[node["array"]]
        if "offset" in node:  # a view into the buffer sent, as the sender's was into its own
            a = np.lib.stride_tricks.as_strided(a[node["offset"]:], shape=tuple(node["shape"]),
                                                strides=tuple(node["strides"]), writeable=True)
        if self.keep is not None and "token" in node:
            a = self.keep(node["token"], a)
        if not node.get("writeable", True):
            a.flags.writeable = False
        return a


def decode(data: bytes, keep=None):
    """The value a message holds; a malformed message raises ValueError."""
    try:
        size, count = struct.unpack_from("<QI", data, 0)
        pos = 12
        tree = json.loads(data[pos:pos + size])
        pos += size
        if count > MAX_ARRAYS:
            raise ValueError("too many arrays")
        arrays = []
        for _ in range(count):
            h, high, low = struct.unpack_from("<III", data, pos)
            pos += 12
            n = (high << 32) | low
            arrays.append(_array(data[pos:pos + h], data[pos + h:pos + h + n]))
            pos += h + n
        return Decoder(arrays, keep).tree(tree)
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError, OSError) as e:
        raise ValueError(f"a malformed message: {type(e).__name__}: {e}") from None
