# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import (
    check_session_name, name_problem)


@pytest.mark.parametrize('name', ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant_1', 'a', 'é' * 127, 'x' * 255])
def test_accepts_safe_names(name):
    assert name_problem(name) is None
    check_session_name(name)


@pytest.mark.parametrize('name,why', [
    ('', 'empty'), ('a/b', "no '/'"), ('..', "'..'"), ('.', "'.'"), ('.hidden', 'dot'),
    ('a\x00b', 'NUL'), ('x' * 256, '256 bytes'), ('é' * 128, '256 bytes'), (None, 'string'), (7, 'string'),
])
def test_rejects_unsafe_names_naming_the_value(name, why):
    with pytest.raises(ValueError) as exc:
        check_session_name(name)
    assert why in str(exc.value)
    assert repr(name)[:40] in str(exc.value)
