"""A small pickle machine that runs only what a network pickle needs, bounded by the bytes it is given.

Python's own unpickler is a general object builder: any global it resolves may be called (REDUCE), given
arbitrary state (BUILD calls ``__setstate__``), or instantiated (NEWOBJ, INST, OBJ). Restricting ``find_class``
narrows which globals are reachable, but BUILD, NEWOBJ and item assignment still act on whatever objects the
stream builds, and the C unpickler sizes its memo from the indices the stream declares (a 9-byte pickle can
make it allocate gigabytes). So this module implements the pickle opcodes itself, the subset that
StyleGAN2-ADA / StyleGAN3-repo snapshots and legacy ``torch.save`` storage streams are written with, and
refuses every other one. What each remaining opcode may do is set by a :class:`Policy`:

* **GLOBAL / STACK_GLOBAL** resolve only names in ``policy.globals``, each mapped to a function of ours;
* **REDUCE** calls only those functions, with a tuple of arguments;
* **NEWOBJ** creates only the plain dict classes in ``policy.classes``, with no arguments;
* **BUILD** goes to ``policy.build``, which accepts the few objects the format gives state to, or refuses;
* **SETITEM(S) / APPEND(S) / ADDITEMS** act only on real dicts, lists and sets, and dict keys and set items
  must be plain scalars (so no hashing of deep structures);
* **BINPERSID** goes to ``policy.persistent_load`` (legacy storage streams), refused when there is none.

Every length is checked against the bytes that remain, integers are bounded, the memo is a dict (its size
follows the opcodes actually present, never a declared index), and the number of opcodes is capped, so time
and memory stay proportional to the input, whatever it declares.

    >>> policy = Policy(globals={})
    >>> unpickle(b"\\x80\\x02K\\x07.", policy)   # PROTO 2, BININT1 7, STOP
    (7, 5)
"""

from __future__ import annotations

import dataclasses
import mmap
import reprlib
import struct
from collections.abc import Callable, Mapping
from typing import Any, Union

MAX_OPCODES = 4_000_000          # real snapshots need well under 10^5; this bounds time and memory
MAX_LONG_BYTES = 64              # network pickles only hold small integers (the torch magic number is 10 bytes)
MAX_GLOBAL_NAME = 200            # module or attribute name length in GLOBAL / STACK_GLOBAL
_SCALAR_KEYS = (str, int, float, bool, bytes, type(None))
Buffer = Union[bytes, bytearray, mmap.mmap]


class PickleRefused(Exception):
    """The stream asks for something the policy does not allow (nothing of it ran)."""


class PickleCorrupt(Exception):
    """The stream is malformed or truncated."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a stream may build: see the module docstring."""

    globals: Mapping[tuple[str, str], Any]           # name -> what it resolves to (our functions, markers)
    classes: frozenset[type] = frozenset()
    build: Callable[[Any, Any], Any] | None = None
    persistent_load: Callable[[Any], Any] | None = None
    refusal_hint: Callable[[str, str], str | None] = lambda module, name: None   # a better message for a name

    def callable_ids(self) -> frozenset[int]:
        """What REDUCE may call: the functions among the globals (classes only through NEWOBJ)."""
        return frozenset(id(f) for f in self.globals.values() if callable(f) and not isinstance(f, type))


def describe(value: Any) -> str:
    """A short, bounded description of a value from a stream (for error messages)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    short.maxlevel = 2
    try:
        return f"{type(value).__name__} {short.repr(value)}"
    except Exception:  # a hostile object's repr must not escape; its type name is enough
        return type(value).__name__


class _Mark:
    """The MARK sentinel on the stack."""


_MARK = _Mark()


class _Machine:
    def __init__(self, data: Buffer, start: int, policy: Policy) -> None:
        self.data = data   # indexed and sliced directly: slices of bytes and mmap are bytes, never views
        self.pos = start
        self.end = len(self.data)
        self.policy = policy
        self.callables = policy.callable_ids()
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.frame_end: int | None = None

    # ------------------------------------------------------------------------------------------- reading
    def take(self, n: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise PickleCorrupt(f"the stream declares {n} bytes at offset {self.pos}, but only "
                                f"{self.end - self.pos} remain")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(chunk)

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def line(self) -> str:
        limit = min(self.end, self.pos + MAX_GLOBAL_NAME + 1)
        for i in range(self.pos, limit):
            if self.data[i] == 0x0A:
                text = bytes(self.data[self.pos:i])
                self.pos = i + 1
                try:
                    return text.decode("ascii")
                except UnicodeDecodeError:
                    raise PickleCorrupt(f"non-ASCII global name {text[:40]!r}") from None
        raise PickleCorrupt(f"unterminated or overlong name at offset {self.pos}")

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise PickleCorrupt(f"bad UTF-8 string ({exc.reason})") from None

    # -------------------------------------------------------------------------------------------- stack
    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise PickleCorrupt("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise PickleCorrupt("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleCorrupt("no MARK on the stack")
        at = self.marks.pop()
        if at > len(self.stack) or at == 0 or self.stack[at - 1] is not _MARK:
            raise PickleCorrupt("MARK lost from the stack")
        items = self.stack[at:]
        del self.stack[at - 1:]
        return items

    def memo_put(self, index: int) -> None:
        self.memo[index] = self.top()

    def memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise PickleCorrupt(f"memo entry {index} is used before it was stored") from None

    # ------------------------------------------------------------------------------------------ objects
    def resolve(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise PickleCorrupt("global names must be strings")
        found = self.policy.globals.get((module, name))
        if found is None:
            hint = self.policy.refusal_hint(module, name)
            raise PickleRefused(hint or f"the pickle asks for the global '{module[:MAX_GLOBAL_NAME]}."
                                        f"{name[:MAX_GLOBAL_NAME]}', which this file type never needs")
        return found

    def reduce(self) -> None:
        args = self.pop()
        func = self.pop()
        if id(func) not in self.callables or not callable(func):
            raise PickleRefused(f"REDUCE on {describe(func)}: only the format's own constructors may be called")
        if not isinstance(args, tuple):
            raise PickleCorrupt(f"REDUCE arguments must be a tuple, got {describe(args)}")
        try:
            self.stack.append(func(*args))
        except (PickleRefused, PickleCorrupt):
            raise
        except Exception as exc:  # our constructors validate; anything else they raise means a bad argument
            message = str(exc).splitlines()[0] if str(exc) else ""
            raise PickleCorrupt(f"{getattr(func, '__name__', 'constructor')}: {type(exc).__name__}: "
                                f"{message[:200]}") from None

    def newobj(self, args: Any, kwargs: Any = None) -> None:
        cls = self.pop()
        if not (isinstance(cls, type) and cls in self.policy.classes):
            raise PickleRefused(f"NEWOBJ of {describe(cls)}: only plain dict classes may be created")
        if args != () or kwargs not in (None, {}):
            raise PickleRefused(f"NEWOBJ of {cls.__name__} with arguments {describe(args)}")
        self.stack.append(cls())

    def build(self) -> None:
        state = self.pop()
        target = self.pop()
        if self.policy.build is None:
            raise PickleRefused(f"BUILD (object state) on {describe(target)} is not part of this format")
        self.stack.append(self.policy.build(target, state))

    def set_items(self, items: list[Any]) -> None:
        target = self.top()
        if not isinstance(target, dict):
            raise PickleRefused(f"SETITEMS on {describe(target)}: items may only be set on dicts")
        if len(items) % 2:
            raise PickleCorrupt("SETITEMS with an odd number of items")
        for i in range(0, len(items), 2):
            key = items[i]
            if not isinstance(key, _SCALAR_KEYS):
                raise PickleRefused(f"dict key {describe(key)}: keys must be plain strings or numbers")
            target[key] = items[i + 1]   # target is a dict, OrderedDict or EasyDict: no user code runs

    def append_items(self, items: list[Any]) -> None:
        target = self.top()
        if type(target) is not list:
            raise PickleRefused(f"APPENDS on {describe(target)}: items may only be appended to lists")
        target.extend(items)

    def add_items(self, items: list[Any]) -> None:
        target = self.top()
        if type(target) is not set:
            raise PickleRefused(f"ADDITEMS on {describe(target)}: items may only be added to sets")
        for item in items:
            if not isinstance(item, _SCALAR_KEYS):
                raise PickleRefused(f"set item {describe(item)}: set items must be plain strings or numbers")
            target.add(item)

    def frozenset_of(self, items: list[Any]) -> frozenset[Any]:
        for item in items:
            if not isinstance(item, _SCALAR_KEYS):
                raise PickleRefused(f"frozenset item {describe(item)}: items must be plain strings or numbers")
        return frozenset(items)

    def long(self, n: int) -> int:
        if n > MAX_LONG_BYTES:
            raise PickleRefused(f"an integer of {n} bytes; this format only holds small integers")
        return int.from_bytes(self.take(n), "little", signed=True)

    def persistent(self) -> None:
        pid = self.pop()
        if self.policy.persistent_load is None:
            raise PickleRefused("persistent ids are not part of this format")
        self.stack.append(self.policy.persistent_load(pid))

    # ------------------------------------------------------------------------------------------- the loop
    def run(self) -> Any:
        ops = 0
        stack, take, uint = self.stack, self.take, self.uint
        while True:
            ops += 1
            if ops > MAX_OPCODES:
                raise PickleRefused(f"more than {MAX_OPCODES} pickle operations; a network pickle needs far fewer")
            if self.pos >= self.end:
                raise PickleCorrupt("the stream ends before its STOP opcode (truncated?)")
            op = self.data[self.pos]
            self.pos += 1
            if op == 0x80:                                  # PROTO
                if uint(1) > 5:
                    raise PickleCorrupt("unknown pickle protocol")
            elif op == 0x95:                                # FRAME: the whole stream is at hand; check, go on
                size = uint(8)
                if size > self.end - self.pos:
                    raise PickleCorrupt(f"a frame of {size} bytes, but only {self.end - self.pos} remain")
            elif op == 0x2E:                                # STOP
                return self.pop()
            elif op == 0x28:                                # MARK
                stack.append(_MARK)
                self.marks.append(len(stack))
            elif op == 0x4B:                                # BININT1
                stack.append(uint(1))
            elif op == 0x4D:                                # BININT2
                stack.append(uint(2))
            elif op == 0x4A:                                # BININT
                stack.append(struct.unpack("<i", take(4))[0])
            elif op == 0x8A:                                # LONG1
                stack.append(self.long(uint(1)))
            elif op == 0x8B:                                # LONG4
                stack.append(self.long(struct.unpack("<i", take(4))[0]))
            elif op == 0x47:                                # BINFLOAT
                stack.append(struct.unpack(">d", take(8))[0])
            elif op == 0x4E:                                # NONE
                stack.append(None)
            elif op == 0x88:                                # NEWTRUE
                stack.append(True)
            elif op == 0x89:                                # NEWFALSE
                stack.append(False)
            elif op == 0x8C:                                # SHORT_BINUNICODE
                stack.append(self.text(uint(1)))
            elif op == 0x58:                                # BINUNICODE
                stack.append(self.text(uint(4)))
            elif op == 0x8D:                                # BINUNICODE8
                stack.append(self.text(uint(8)))
            elif op == 0x43:                                # SHORT_BINBYTES
                stack.append(take(uint(1)))
            elif op == 0x42:                                # BINBYTES
                stack.append(take(uint(4)))
            elif op == 0x8E:                                # BINBYTES8
                stack.append(take(uint(8)))
            elif op == 0x29:                                # EMPTY_TUPLE
                stack.append(())
            elif op == 0x85:                                # TUPLE1
                stack.append((self.pop(),))
            elif op == 0x86:                                # TUPLE2
                b = self.pop()
                stack.append((self.pop(), b))
            elif op == 0x87:                                # TUPLE3
                c, b = self.pop(), self.pop()
                stack.append((self.pop(), b, c))
            elif op == 0x74:                                # TUPLE
                stack.append(tuple(self.pop_mark()))
            elif op == 0x5D:                                # EMPTY_LIST
                stack.append([])
            elif op == 0x6C:                                # LIST
                stack.append(self.pop_mark())
            elif op == 0x61:                                # APPEND
                self.append_items([self.pop()])
            elif op == 0x65:                                # APPENDS
                self.append_items(self.pop_mark())
            elif op == 0x7D:                                # EMPTY_DICT
                stack.append({})
            elif op == 0x64:                                # DICT
                items = self.pop_mark()
                stack.append({})
                self.set_items(items)
            elif op == 0x73:                                # SETITEM
                value = self.pop()
                key = self.pop()
                self.set_items([key, value])
            elif op == 0x75:                                # SETITEMS
                self.set_items(self.pop_mark())
            elif op == 0x8F:                                # EMPTY_SET
                stack.append(set())
            elif op == 0x90:                                # ADDITEMS
                self.add_items(self.pop_mark())
            elif op == 0x91:                                # FROZENSET
                stack.append(self.frozenset_of(self.pop_mark()))
            elif op == 0x94:                                # MEMOIZE
                self.memo_put(len(self.memo))
            elif op == 0x71:                                # BINPUT
                self.memo_put(uint(1))
            elif op == 0x72:                                # LONG_BINPUT
                self.memo_put(uint(4))
            elif op == 0x68:                                # BINGET
                self.memo_get(uint(1))
            elif op == 0x6A:                                # LONG_BINGET
                self.memo_get(uint(4))
            elif op == 0x63:                                # GLOBAL
                module = self.line()
                stack.append(self.resolve(module, self.line()))
            elif op == 0x93:                                # STACK_GLOBAL
                name = self.pop()
                stack.append(self.resolve(self.pop(), name))
            elif op == 0x52:                                # REDUCE
                self.reduce()
            elif op == 0x81:                                # NEWOBJ
                self.newobj(self.pop())
            elif op == 0x92:                                # NEWOBJ_EX
                kwargs = self.pop()
                self.newobj(self.pop(), kwargs)
            elif op == 0x62:                                # BUILD
                self.build()
            elif op == 0x51:                                # BINPERSID
                self.persistent()
            elif op == 0x30:                                # POP
                if stack and stack[-1] is _MARK:
                    self.pop_mark()
                else:
                    self.pop()
            elif op == 0x31:                                # POP_MARK
                self.pop_mark()
            elif op == 0x32:                                # DUP
                stack.append(self.top())
            else:
                raise PickleRefused(f"pickle opcode 0x{op:02x} at offset {self.pos - 1} is not used by this format "
                                     "(a damaged file, or not one of this type)")


def unpickle(data: Buffer, policy: Policy, start: int = 0) -> tuple[Any, int]:
    """Run one pickle from ``data[start:]``; returns the object and the offset just after its STOP.

    Raises :class:`PickleRefused` for anything the policy does not allow and :class:`PickleCorrupt` for a
    malformed stream; nothing else escapes (a deeply nested or huge stream included).
    """
    machine = _Machine(data, start, policy)
    try:
        value = machine.run()
    except (PickleRefused, PickleCorrupt):
        raise
    except (MemoryError, RecursionError, OverflowError, struct.error, ValueError, TypeError) as exc:
        raise PickleCorrupt(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    return value, machine.pos
