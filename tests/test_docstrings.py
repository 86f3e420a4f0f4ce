"""Every public name of keras_hier has a docstring: modules, functions, classes, and the public methods and
properties a class adds (overrides of Keras' own methods, such as `call` or `get_config`, are documented there)."""

import importlib
import inspect
import pkgutil

import keras

import keras_hier

# Keras' own hooks: a subclass overrides them with Keras' documented meaning.
KERAS_HOOKS = {
    name
    for base in (keras.Model, keras.layers.Layer, keras.losses.Loss, keras.metrics.Metric, keras.callbacks.Callback,
                 keras.utils.PyDataset)
    for name in dir(base)
    if not name.startswith("_")
}


def public_modules():
    yield keras_hier
    for info in pkgutil.walk_packages(keras_hier.__path__, "keras_hier."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def undocumented():
    missing = []
    for module in public_modules():
        if not (module.__doc__ or "").strip():
            missing.append(module.__name__)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not (obj.__doc__ or "").strip():
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or attr in KERAS_HOOKS:
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if not (inspect.isfunction(member) or isinstance(member, property)):
                        continue
                    # An override of a documented base-class member keeps that documentation.
                    docs = [member.__doc__] + [getattr(vars(base).get(attr), "__doc__", None) for base in obj.__mro__[1:]]
                    if not any((d or "").strip() for d in docs):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    return missing


def test_every_public_name_has_a_docstring():
    assert undocumented() == []
