"""The pure wire layer: request encoding, mime types and response decoding.

Nothing here does I/O, and nothing imports the layers above: item Structs
are registered by the modules that define them (:func:`register_item`).
"""

from .decoding import check_type, decode_as, decode_json, decode_response
from .encoding import (
    MAX_RESULTS,
    encode_form,
    encode_query,
    encoded,
    expand_template,
    merge_query,
)
from .errorbody import error_code, error_from_response, parse_retry_after
from .mime import MIME_PREFIX, is_json_content_type, mime, mime_name
from .registry import register_generic, register_page
from .specs import ItemSpec, ListSpec, register_item, register_list, registry
from .types import CHILDREN_KEY, Count, Decoded, ExpandedMark, Link, ListOf, Mark, Page

__all__ = [
    "CHILDREN_KEY",
    "MAX_RESULTS",
    "MIME_PREFIX",
    "Count",
    "Decoded",
    "ExpandedMark",
    "ItemSpec",
    "Link",
    "ListOf",
    "ListSpec",
    "Mark",
    "Page",
    "check_type",
    "decode_as",
    "decode_json",
    "decode_response",
    "encode_form",
    "encode_query",
    "encoded",
    "error_code",
    "error_from_response",
    "expand_template",
    "is_json_content_type",
    "merge_query",
    "mime",
    "mime_name",
    "parse_retry_after",
    "register_generic",
    "register_item",
    "register_list",
    "register_page",
    "registry",
]
