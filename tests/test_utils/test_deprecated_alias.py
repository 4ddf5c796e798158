"""register_deprecated_alias: an old registry name that builds the renamed class with a warning."""
import copy
import pickle
import warnings

import pytest
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import avoid_cache_randomness
from mmengine.registry import Registry

import mmseqformer.utils.deprecated_alias as alias_module
from mmseqformer.utils import register_deprecated_alias

REGISTRY = Registry('deprecated alias test')


@REGISTRY.register_module()
class AddOffset:

    def __init__(self, offset: int = 1) -> None:
        self.offset = offset

    def __call__(self, x: int) -> int:
        return x + self.offset


@avoid_cache_randomness
@REGISTRY.register_module()
class RandomThing(BaseTransform):

    def transform(self, results: dict) -> dict:
        return results


OldAddOffset = register_deprecated_alias(REGISTRY, AddOffset, 'OldAddOffset')
OldRandomThing = register_deprecated_alias(REGISTRY, RandomThing, 'OldRandomThing')


def test_old_name_builds_the_new_class_with_a_warning():
    with pytest.warns(DeprecationWarning) as record:
        old = REGISTRY.build(dict(type='OldAddOffset', offset=3))
    assert [str(w.message) for w in record] == [
        "'OldAddOffset' is deprecated and will be removed; use 'AddOffset' (same arguments) instead"]
    assert isinstance(old, AddOffset) and type(old).__name__ == 'OldAddOffset'
    assert old(4) == REGISTRY.build(dict(type='AddOffset', offset=3))(4) == 7


def test_new_name_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert REGISTRY.build(dict(type='AddOffset'))(1) == 2


def test_first_build_per_name_is_logged(monkeypatch):
    logged = []
    monkeypatch.setattr(alias_module, 'print_log', lambda msg, **kwargs: logged.append(msg))
    monkeypatch.setattr(alias_module, '_logged', set())
    with pytest.warns(DeprecationWarning):
        for _ in range(3):
            REGISTRY.build(dict(type='OldAddOffset'))
        REGISTRY.build(dict(type='OldRandomThing'))
    assert [msg.split("'")[1] for msg in logged] == ['OldAddOffset', 'OldRandomThing']


def test_alias_instances_pickle_and_copy():
    with pytest.warns(DeprecationWarning):
        old = OldAddOffset(offset=5)
    for again in (pickle.loads(pickle.dumps(old)), copy.deepcopy(old)):
        assert type(again) is OldAddOffset and again(1) == 6


def test_alias_keeps_avoid_cache_randomness():
    # mmcv's decorator marks only the class it decorates; TransformBroadcaster reads it per class
    assert RandomThing.avoid_cache_randomness is True
    assert OldRandomThing.avoid_cache_randomness is True
    assert OldAddOffset.__dict__.get('_avoid_cache_randomness') is None


def test_taken_name_is_refused():
    with pytest.raises(KeyError, match='already registered'):
        register_deprecated_alias(REGISTRY, AddOffset, 'RandomThing')
