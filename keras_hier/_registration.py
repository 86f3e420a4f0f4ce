"""Lets Keras find keras_hier's saved classes in a process that has only run `import keras_hier`.

Every keras_hier layer, loss, metric, optimizer and model is registered with
`keras.saving.register_keras_serializable(package="keras_hier")` when its module is imported. `import keras_hier`
stays cheap by importing those modules lazily, so in a fresh process
`import keras_hier; keras.saving.load_model("hiernet.keras")` would meet names Keras has not seen yet. Keras
records each object's module next to its class name (`"module": "keras_hier.models.hiernet"`), but imports
modules named in a file only for its own packages. `install()` teaches it the same for `keras_hier`: when Keras
looks up an object whose module is inside keras_hier, that module is imported first (which registers the
object), and the lookup proceeds as usual. Modules outside keras_hier are never imported by this.

The hook is put in place when Keras' deserializer is first imported (or at once if it already is), so it costs
nothing until a model is loaded.
"""

import contextlib
import importlib
import importlib.abc
import sys

_DESERIALIZER = "keras.src.saving.serialization_lib"
_PACKAGE = "keras_hier"


def _import_owner(module):
    """Imports `module` if it is a keras_hier module (registering what it defines); ignores every other name."""
    if module and (module == _PACKAGE or module.startswith(_PACKAGE + ".")):
        # A module renamed or removed since the file was saved is skipped: Keras then names the missing object.
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(module)


def _patch(serialization_lib):
    """Wraps Keras' class lookup so that it imports the keras_hier module an object comes from."""
    original = getattr(serialization_lib, "_retrieve_class_or_fn", None)
    if original is None or getattr(original, "_imports_keras_hier", False):
        return

    def retrieve_class_or_fn(name, registered_name, module, *args, **kwargs):
        _import_owner(module)
        return original(name, registered_name, module, *args, **kwargs)

    retrieve_class_or_fn._imports_keras_hier = True
    retrieve_class_or_fn.__wrapped__ = original
    serialization_lib._retrieve_class_or_fn = retrieve_class_or_fn


class _PatchingLoader(importlib.abc.Loader):
    """Runs the deserializer module with its own loader, then patches it."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name):  # get_source, get_filename, ... for tracebacks and inspect
        return getattr(self._loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds Keras' deserializer with the other finders and wraps its loader; every other module is left alone."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _DESERIALIZER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install():
    """Makes Keras import keras_hier's modules on demand while deserializing (see the module docstring)."""
    if _DESERIALIZER in sys.modules:
        _patch(sys.modules[_DESERIALIZER])
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
