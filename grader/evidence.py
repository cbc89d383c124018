"""Evidence that a student's code went after what the tests rely on, gathered in the worker.

``Integrity`` records, before any student code runs, the objects the tests and the worker use:
every entry of ``builtins``, of torch, ``torch.nn``, ``torch.nn.functional`` and a few other
modules, of every ``toylib`` module, the methods of their classes, the code objects of their
functions, and the interpreter's and IPython's hooks (trace and profile functions, import finders,
input and AST transformers, event callbacks, display hooks). ``check`` lists what differs since.
A library may rebind its own names (``torch.set_default_dtype`` replaces ``torch.Storage``,
``%matplotlib inline`` registers an event callback): a new value whose code lives in a library's
own files is accepted and becomes the baseline; a student's function, defined in a cell, is not.

``References`` spots answers built on the course's own implementation of that answer (declared
by the source notebook): a name bound to it, a subclass of it, or a class reusing its methods.

Both run in the student's process and can be fooled by code written against them: they are a
second line, after the sandbox and after judging in the grader's own process (``grader.judge``).
"""

from __future__ import annotations

import builtins
import importlib
import operator
import os
import sys
import types

# the checks use these, bound before any student code can replace the builtins
_isinstance, _len, _type, _getattr, _tuple = isinstance, len, type, getattr, tuple
_map, _id, _code_of = map, id, operator.attrgetter("__code__")
WATCHED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.testing",
                   "torch.linalg", "numpy", "math", "copy", "functools", "operator")


class Integrity:
    """What the tests rely on, recorded before any student code runs, and checked after."""

    def __init__(self, shell) -> None:
        self.entries: list[tuple[str, object, str, object]] = []  # (label, container, key, obj)
        self.codes: list[tuple[str, types.FunctionType, types.CodeType]] = []
        self.protected: set[int] = set()  # ids of classes and functions whose changes are watched
        self._watch_dict("builtins", builtins.__dict__)
        modules = [m for m in WATCHED_MODULES if m in sys.modules]
        modules += sorted(m for m in sys.modules if m == "toylib" or m.startswith("toylib."))
        for name in modules:
            module = sys.modules[name]
            self.entries.append((f"sys.modules[{name!r}]", sys.modules, name, module))
            self._watch_dict(name, vars(module))
            for key, value in list(vars(module).items()):
                if isinstance(value, type) and (value.__module__ or "").startswith(
                        ("torch", "toylib")):
                    self._watch_dict(f"{name}.{key}", value.__dict__)
        import torch

        self._watch_dict("torch.Tensor", torch.Tensor.__dict__)
        self._watch_dict("torch.nn.Module", torch.nn.Module.__dict__)
        _LIBRARIES()  # computed now, before any student code
        self.hooks = self._hooks(shell)
        self._snapshot()

    def _watch_dict(self, label: str, mapping) -> None:
        for key, value in list(mapping.items()):
            if key.startswith("__") and key not in ("__import__", "__call__", "__init__"):
                continue
            self.entries.append((f"{label}.{key}", mapping, key, value))
            if isinstance(value, type) or callable(value):
                self.protected.add(id(value))
            if isinstance(value, types.FunctionType):
                self.codes.append((f"{label}.{key}", value, value.__code__))

    def _snapshot(self) -> None:
        """Per watched mapping, its keys and the ids of their values (alive: held here)."""
        groups: dict[int, tuple[object, list, list]] = {}
        for _, mapping, key, value in self.entries:
            group = groups.setdefault(_id(mapping), (mapping, [], []))
            group[1].append(key)
            group[2].append(_id(value))
        self.groups = [(mapping, _tuple(keys), _tuple(ids)) for mapping, keys, ids in
                       groups.values()]
        self.functions = _tuple(function for _, function, _ in self.codes)
        self.code_ids = _tuple(_id(code) for _, _, code in self.codes)

    def _unchanged(self) -> bool:
        """Every watched entry and code object is the one recorded (identity, in C loops)."""
        for mapping, keys, ids in self.groups:
            if _tuple(_map(_id, _map(mapping.get, keys))) != ids:
                return False
        return _tuple(_map(_id, _map(_code_of, self.functions))) == self.code_ids

    @staticmethod
    def _hooks(shell) -> dict[str, object]:
        state = {
            "sys.displayhook": sys.displayhook, "sys.excepthook": sys.excepthook,
            "sys.meta_path": _foreign(sys.meta_path), "sys.path_hooks": _foreign(sys.path_hooks),
            "IPython input transformers": _foreign(
                [*shell.input_transformers_cleanup, *shell.input_transformers_post,
                 *shell.input_transformer_manager.cleanup_transforms,
                 *shell.input_transformer_manager.line_transforms]),
            "IPython AST transformers": _foreign(shell.ast_transformers),
            "IPython event callbacks": _foreign(
                [c for _, v in sorted(shell.events.callbacks.items()) for c in v]),
            "IPython display publisher": shell.display_pub,
            "IPython display hook": shell.displayhook,
        }
        for method in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code",
                       "transform_cell", "_showtraceback", "showtraceback"):
            state[f"IPython shell.{method}"] = getattr(type(shell), method, None)
            state[f"IPython shell.{method} (instance)"] = shell.__dict__.get(method)
        return state

    def check(self, shell) -> list[str]:
        """Descriptions of what changed since the baseline (empty when nothing did).

        A library may rebind its own names (``torch.set_default_dtype`` replaces
        ``torch.Storage``; ``%matplotlib inline`` registers an event callback): a new value whose
        code lives in a library's own files is accepted, and becomes the baseline."""
        found = []
        if not self._unchanged():  # a quick look first: the check runs after every request
            missing = object()
            for index, (label, mapping, key, value) in enumerate(self.entries):
                new = mapping.get(key, missing)
                if new is value:
                    continue
                if new is not missing and _library_made(new):
                    self.entries[index] = (label, mapping, key, new)
                    continue
                found.append(f"{label} was replaced")
            for label, function, code in self.codes:
                if function.__code__ is not code:
                    found.append(f"the code of {label} was replaced")
            self._snapshot()
        for label, value in self._hooks(shell).items():
            before = self.hooks[label]
            if not _same(value, before):
                found.append(f"{label} was changed")
        return found


def _library_dirs() -> tuple[str, ...]:
    import IPython
    import matplotlib
    import numpy
    import torch

    import toylib

    packages = [torch, numpy, matplotlib, IPython, toylib]
    for name in ("matplotlib_inline", "traitlets", "tqdm", "ipykernel"):
        try:
            packages.append(importlib.import_module(name))
        except ImportError:
            pass
    return tuple(os.path.dirname(p.__file__) + os.sep for p in packages)


def _library_made(obj: object) -> bool:
    """True for a function, bound method or class whose code is in a library's own files."""
    function = _getattr(obj, "__func__", obj)
    if _type(function) is types.FunctionType:
        return function.__code__.co_filename.startswith(_LIBRARIES())
    if _isinstance(obj, type):
        module = sys.modules.get(_getattr(obj, "__module__", "") or "")
        methods = [f for f in vars(obj).values() if _type(f) is types.FunctionType]
        return (module is not None and (_getattr(module, "__file__", "") or "").startswith(
            _LIBRARIES()) and all(f.__code__.co_filename.startswith(_LIBRARIES())
                                  for f in methods))
    for cls in _type(obj).__mro__:  # an object (a finder, a transformer) of a library class
        if cls is not object and _library_made(cls):
            return True
    return False


_LIBRARY_CACHE: list[tuple[str, ...]] = []


def _LIBRARIES() -> tuple[str, ...]:  # noqa: N802 - a constant computed once, when first needed
    if not _LIBRARY_CACHE:
        _LIBRARY_CACHE.append(_library_dirs())
    return _LIBRARY_CACHE[0]


def _foreign(items) -> tuple:
    """The items a library did not make (what a student's code added), in order."""
    return _tuple(item for item in items if not _library_made(item))


def _same(a: object, b: object) -> bool:
    if _type(a) is _tuple and _type(b) is _tuple:
        return _len(a) == _len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a is b


class References:
    """The course's reference implementation of each answer, to spot answers that reuse it."""

    def __init__(self, answers: dict) -> None:
        self.names: dict[str, str] = {}  # answer name -> answer id
        self.objects: dict[str, list[tuple[str, object]]] = {}  # answer id -> [(dotted, obj)]
        self.codes: dict[str, dict[types.CodeType, str]] = {}  # answer id -> {code: dotted}
        self.all_codes: dict[types.CodeType, str] = {}
        # answer id -> [(function, its code, its tripwire's code)]
        self.functions: dict[str, list[tuple[types.FunctionType, types.CodeType,
                                             types.CodeType]]] = {}
        for answer, spec in answers.items():
            for name in spec.get("names", []):
                self.names[name] = answer
            objects, codes, functions = [], {}, []
            for dotted in spec.get("references", []):
                module, _, attr = dotted.rpartition(".")
                try:
                    obj = getattr(importlib.import_module(module), attr)
                except (ImportError, AttributeError):
                    continue
                objects.append((dotted, obj))
                for function in _functions_of(obj):
                    codes[function.__code__] = dotted
                    functions.append((function, function.__code__, _tripwire(function, dotted)))
            self.objects[answer], self.codes[answer] = objects, codes
            self.functions[answer] = [entry for entry in functions if entry[2] is not None]
            self.all_codes.update(codes)

    def bound(self, namespace: dict) -> list[str]:
        """Answer names bound to (or built on) a reference implementation."""
        found = []
        for name in sorted(self.names):
            obj = namespace.get(name)
            if obj is None:
                continue
            for dotted, ref in (pair for objs in self.objects.values() for pair in objs):
                if obj is ref or (isinstance(obj, type) and isinstance(ref, type)
                                  and issubclass(obj, ref)):
                    found.append(f"`{name}` is the course's {dotted}, not your own code")
                    break
            else:
                shared = {self.all_codes[c] for c in _codes_of(obj) if c in self.all_codes}
                if shared:
                    found.append(f"`{name}` reuses the code of the course's "
                                  f"{', '.join(sorted(shared))}")
        return found


    def arm(self, answer: str) -> None:
        """While a test's probe runs the answer ``answer``: every function of its reference
        implementation runs a tripwire instead of its body (reports ``grader.reference`` to the
        audit hooks and raises). The code is swapped on the function objects themselves, so it
        holds however the answer reached them: a thread started before the test, an object
        found with ``gc``, a class looked up by a computed name."""
        for function, _, tripwire in self.functions.get(answer, []):
            function.__code__ = tripwire

    def disarm(self, answer: str) -> None:
        for function, code, _ in self.functions.get(answer, []):
            function.__code__ = code


REFERENCE_EVENT = "grader.reference"  # audit event raised by a tripwire


def _tripwire(function: types.FunctionType, dotted: str) -> types.CodeType | None:
    """A code object for ``function`` that reports and refuses to run; None where one with the
    same free variables (``__class__`` of ``super()``, a closure) cannot be made."""
    free = function.__code__.co_freevars
    message = (f"the course's {dotted} ran while a test checked your answer: the tests grade "
               "your own implementation, not the course's")
    source = (f"def outer({', '.join(free)}):\n"
              "    def tripwire(*args, **kwargs):\n"
              + "".join(f"        {name}\n" for name in free)
              + f"        __import__('sys').audit({REFERENCE_EVENT!r}, {dotted!r})\n"
              f"        raise RuntimeError({message!r})\n"
              "    return tripwire\n")
    namespace: dict = {}
    try:
        exec(compile(source, function.__code__.co_filename, "exec"), namespace)  # noqa: S102
        code = namespace["outer"](*[None] * _len(free)).__code__
        code = code.replace(co_name=function.__code__.co_name,
                            co_qualname=function.__code__.co_qualname)
    except (SyntaxError, ValueError, TypeError):
        return None
    return code if code.co_freevars == free else None


def _functions_of(obj: object) -> list[types.FunctionType]:
    """Functions (and what they wrap) or the methods a class defines, written in the course's
    own files: a decorator's wrapper (``torch.no_grad``'s, shared by every function it
    decorates) or any other library's code is never a reference's."""
    members = list(vars(obj).values()) if isinstance(obj, type) else [obj]
    course = _course_dir()
    functions = []
    for member in members:
        for inner in (member, getattr(member, "fget", None), getattr(member, "__func__", None)):
            for _ in range(8):  # follow functools.wraps chains, never a cycle
                if inner is None:
                    break
                if (isinstance(inner, types.FunctionType)
                        and inner.__code__.co_filename.startswith(course)):
                    functions.append(inner)
                inner = getattr(inner, "__wrapped__", None)
    return functions


def _codes_of(obj: object) -> list[types.CodeType]:
    return [function.__code__ for function in _functions_of(obj)]


def _course_dir() -> str:
    import toylib

    return os.path.dirname(os.path.abspath(toylib.__file__)) + os.sep


# ------------------------------------------------------------------- trace and profile hooks
def stop_tracers(where: str) -> tuple[list[str], list[str]]:
    """Stop the trace and profile functions left running (this thread's, and those threading
    gives new threads); return (tampering, notes). A library's (pdb, cProfile, a coverage tool,
    torch.profiler) is a debugger or a profiler left on: a note. One the student wrote can
    rewrite what the tests' probes see: tampering. The grader's own profile hook is off here."""
    import threading

    hooks = {"sys.settrace": sys.gettrace(), "sys.setprofile": sys.getprofile(),
             "threading.settrace": _getattr(threading, "_trace_hook", None),
             "threading.setprofile": _getattr(threading, "_profile_hook", None)}
    tampered, notes = [], []
    for name, hook in hooks.items():
        if hook is None:
            continue
        if _installed_code(hook):
            notes.append(f"{where} left a debugger or profiler running ({name}: "
                         f"{_describe(hook)}); it was stopped")
        else:
            tampered.append(f"{where} left a trace function of its own running ({name}: "
                            f"{_describe(hook)})")
    if hooks["sys.settrace"] is not None:
        sys.settrace(None)
    if hooks["sys.setprofile"] is not None:
        sys.setprofile(None)
    if hooks["threading.settrace"] is not None:
        threading.settrace(None)
    if hooks["threading.setprofile"] is not None:
        threading.setprofile(None)
    return tampered, notes


def _describe(hook: object) -> str:
    function = _getattr(hook, "__func__", hook)
    name = _getattr(function, "__qualname__", None) or _type(hook).__qualname__
    return str(name)[:80]


def _installed_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.join(os.path.abspath(d), "") for d in dirs)


def _installed_code(obj: object) -> bool:
    """Is ``obj`` (a function, a bound method, an object with ``__call__``) code of Python's
    own library or of an installed package, on a library object, never a cell's?"""
    function = _getattr(obj, "__func__", obj)
    owner = _getattr(obj, "__self__", None)
    if _type(function) is types.FunctionType:
        if not function.__code__.co_filename.startswith(_installed_dirs()):
            return False
        return owner is None or _installed_class(_type(owner))
    if _isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return owner is None or _isinstance(owner, types.ModuleType) or _installed_class(
            _type(owner))
    return _installed_class(_type(obj))


def _installed_class(cls: type) -> bool:
    """Every method that ``cls`` and its bases define in Python lives in installed code."""
    for klass in cls.__mro__:
        for value in vars(klass).values():
            function = _getattr(value, "__func__", value)
            if (_type(function) is types.FunctionType
                    and not function.__code__.co_filename.startswith(_installed_dirs())):
                return False
    return True
