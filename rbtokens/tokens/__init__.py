"""Token management: ``client.tokens`` (:class:`Tokens`) and what its verbs return.

* :mod:`.verbs`: list, get, find, create, update, invalidate, revoke, rotate;
* :mod:`.rotation`: rotation as an explicit state machine;
* :mod:`.pager`: the page-number :class:`Pager` view over the one pager;
* :mod:`.ops`, :mod:`.checks`, :mod:`.failures`, :mod:`.listing`: their parts.
"""

from .checks import UNSET
from .pager import ListingFailure, Pager
from .rotation import ROTATION_KEY, Rotation
from .verbs import Tokens

__all__ = ["ROTATION_KEY", "UNSET", "ListingFailure", "Pager", "Rotation", "Tokens"]
