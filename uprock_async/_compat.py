"""Names newer Pythons have in ``typing``, imported at runtime on every supported one
(so ``typing.get_type_hints`` works on every public signature)."""

import sys

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = ["Unpack"]
