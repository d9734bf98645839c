"""Live dict and list views of the dataset, for the test builders in :mod:`.testing`.

Tests written against the old in-memory fakes read and change the server's
state as dicts and lists (``fake.tokens["u000"][0].update(...)``,
``fake.users.pop(5)``). These views give them that shape over the one
:class:`~.dataset.Dataset`: reads see the records as they are now, writes
change the records (and drop the core's cached payloads). Nothing here knows
Review Board's rules.
"""

from __future__ import annotations

import copy
from collections.abc import (
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
)
from typing import Any

from .core import ReviewBoard
from .payloads import Payloads
from .records import TOKEN_FIELDS, TokenRecord, UserRecord

__all__ = ["PayloadView", "RecordView", "SessionKeys", "TokenList", "TokensByUser", "UserList"]


class _DictLike(MutableMapping[str, Any]):
    """``|``, copies and a dict-like repr for the views below."""

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**self, **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**other, **self}

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __repr__(self) -> str:
        return repr(dict(self))

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"a stored field cannot be deleted ({key!r})")


class RecordView(_DictLike):
    """A token's stored fields (datetimes as datetimes), live."""

    def __init__(self, record: TokenRecord, core: ReviewBoard) -> None:
        self.record = record
        self._core = core

    def __getitem__(self, key: str) -> Any:
        if key in ("owner", "kind") or key not in TOKEN_FIELDS:
            raise KeyError(key)
        return getattr(self.record, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.record.set(key, value)
        self._core.changed(self.record.owner, self.record.id)

    def __iter__(self) -> Iterator[str]:
        return (k for k in TOKEN_FIELDS if k not in ("owner", "kind"))

    def __len__(self) -> int:
        return len(TOKEN_FIELDS) - 2


class PayloadView(_DictLike):
    """A user's or token's item payload as the core would send it now; writes go
    to the record (ISO strings are parsed; computed keys cannot be written)."""

    def __init__(
        self, record: TokenRecord | UserRecord, core: ReviewBoard, payloads: Payloads
    ) -> None:
        self.record = record
        self._core = core
        self._payloads = payloads

    def _payload(self) -> dict[str, Any]:
        if isinstance(self.record, TokenRecord):
            return self._payloads.token_obj(self.record)
        return self._payloads.user_obj(self.record)

    def __getitem__(self, key: str) -> Any:
        return self._payload()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        record = self.record
        if isinstance(record, TokenRecord):
            record.set(key, value)
            self._core.changed(record.owner, record.id)
        elif key in ("is_active", "id"):
            setattr(record, key, value)
            self._core.changed(record.username)
        else:
            raise KeyError(f"{key!r} cannot be written on a user")

    def __iter__(self) -> Iterator[str]:
        return iter(self._payload())

    def __len__(self) -> int:
        return len(self._payload())


class TokenList(MutableSequence[Mapping[str, Any]]):
    """One user's tokens as a list of payloads; inserting a payload stores a token."""

    def __init__(self, owner: UserRecord, core: ReviewBoard, payloads: Payloads) -> None:
        self.owner = owner
        self._core = core
        self._payloads = payloads

    def _view(self, record: TokenRecord) -> PayloadView:
        return PayloadView(record, self._core, self._payloads)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._view(t) for t in self.owner.tokens[index]]
        return self._view(self.owner.tokens[index])

    def __len__(self) -> int:
        return len(self.owner.tokens)

    def __setitem__(self, index: Any, value: Any) -> None:
        del self[index]
        self.insert(index, value)

    def __delitem__(self, index: Any) -> None:
        doomed = self.owner.tokens[index]
        for record in doomed if isinstance(doomed, list) else [doomed]:
            self._core.dataset.remove_token(record.id)
            self._core.changed(self.owner.username, record.id)

    def insert(self, index: int, value: Mapping[str, Any]) -> None:
        record = TokenRecord.from_payload(self.owner.username, value)
        self._core.dataset.put(record)
        tokens = self.owner.tokens
        tokens.insert(index, tokens.pop())
        self._core.changed(self.owner.username, record.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Iterable) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> list[dict[str, Any]]:
        return [copy.deepcopy(dict(t), memo) for t in self]

    def __repr__(self) -> str:
        return repr([dict(t) for t in self])


class TokensByUser(MutableMapping[str, Sequence[Mapping[str, Any]]]):
    """Username → :class:`TokenList` (every user but the ``hidden`` ones given)."""

    def __init__(self, core: ReviewBoard, payloads: Payloads, hidden: frozenset[str]) -> None:
        self._core = core
        self._payloads = payloads
        self._hidden = hidden

    def __getitem__(self, username: str) -> TokenList:
        user = self._core.dataset.users.get(username)
        if user is None or username in self._hidden:
            raise KeyError(username)
        return TokenList(user, self._core, self._payloads)

    def __setitem__(self, username: str, payloads: Sequence[Mapping[str, Any]]) -> None:
        tokens = self[username]
        tokens.clear()
        tokens.extend(payloads)

    def __delitem__(self, username: str) -> None:
        self[username].clear()

    def __iter__(self) -> Iterator[str]:
        return (u for u in list(self._core.dataset.users) if u not in self._hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class UserList(MutableSequence[Mapping[str, Any]]):
    """The listed users as a list of payloads; inserting a payload adds a user,
    deleting one takes it off ``/api/users/`` (its item and tokens stay)."""

    def __init__(self, core: ReviewBoard, payloads: Payloads, password: str) -> None:
        self._core = core
        self._payloads = payloads
        self._password = password

    def _users(self) -> list[UserRecord]:
        return [u for u in self._core.dataset.users.values() if not u.hidden]

    def __getitem__(self, index: Any) -> Any:
        found = self._users()[index]
        if isinstance(found, list):
            return [PayloadView(u, self._core, self._payloads) for u in found]
        return PayloadView(found, self._core, self._payloads)

    def __len__(self) -> int:
        return len(self._users())

    def __setitem__(self, index: Any, value: Any) -> None:
        del self[index]
        self.insert(index, value)

    def __delitem__(self, index: Any) -> None:
        # Taken off the listing only, as the old fake's list was: the user's
        # item and tokens stay readable (Dataset.remove_user deletes for real).
        found = self._users()[index]
        for user in found if isinstance(found, list) else [found]:
            user.hidden = True
            self._core.changed(user.username)

    def insert(self, index: int, value: Mapping[str, Any]) -> None:
        dataset = self._core.dataset
        after = self._users()[index:]
        dataset.add_user(
            value["username"],
            password=self._password,
            is_active=bool(value.get("is_active", True)),
            id=value.get("id"),
        )
        for user in after:  # keep the dataset (and so the listing) in list order
            dataset.users[user.username] = dataset.users.pop(user.username)


class SessionKeys:
    """The open sessions' keys; ``add(key)`` opens one for ``username``."""

    def __init__(self, core: ReviewBoard, username: str) -> None:
        self._core = core
        self._username = username

    def add(self, key: str) -> None:
        self._core.auth.sessions.open(self._username, key=key)

    def discard(self, key: str) -> None:
        self._core.auth.sessions.end(key)

    def clear(self) -> None:
        self._core.auth.sessions.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._core.auth.sessions

    def __iter__(self) -> Iterator[str]:
        return iter(self._core.auth.sessions)

    def __len__(self) -> int:
        return len(self._core.auth.sessions)
