"""Token rotation as an explicit state machine.

::

    CREATE ──answer lost──▶ RECOVER ──found by nonce──┐
       │                                              ▼
       └──created────────────────────────────────▶ UNTAG ──▶ RETIRE ──▶ DONE

Each stage is one method returning the next stage; :meth:`Rotator.run`
drives them and owns what a failure means in each stage. Nothing is
created before ``CREATE``, so a failure there (or a refusal) leaves the old
token as it was; from ``UNTAG`` on a replacement exists, and every failure
carries it, secret included, to the caller.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec

from ..errors import (
    RBTokensError,
    ResponseError,
    RotationError,
    TokenNotFoundError,
    TokensError,
    TransportError,
)
from ..resources import APIToken
from .checks import NOT_COPIED, TokenRef, attach, same_time, state_of
from .ops import TokenOps

__all__ = ["ROTATION_KEY", "Rotation", "Rotator", "Stage"]

log = logging.getLogger("rbtokens.tokens")

ROTATION_KEY = "rbtokens_rotation"
"""The ``extra_data`` key a rotation tags each replacement with.

Its value is a fresh random nonce (``uuid4().hex``) per rotation. If the
answer to the create is lost, the replacement is recovered by this nonce and
nothing else, so another token with the same note is never mistaken for it.
Once the replacement is in hand the key is removed again (one ``PUT``), so
its ``extra_data`` is the old token's; if that ``PUT`` fails the key stays,
which is harmless, and a warning says so.
"""


class Rotation(msgspec.Struct, frozen=True):
    """The outcome of :meth:`~rbtokens.Tokens.rotate`.

    ``new_token`` holds the new secret (``new_token.token``). ``old_token`` is
    the old token's state after the rotation, or ``None`` when it was deleted
    (``old_deleted``). ``old_expires`` is when the old token stops accepting
    new logins; it is not when it stops working altogether: on Review Board
    8.1 a session opened with a token survives the token's expiry and ends
    only when the token is deleted. Revoke the old token once the grace
    period is over (``await tokens.revoke(rotation.old_token)``) to end them.
    """

    new_token: APIToken
    old_token: APIToken | None
    old_expires: datetime | None
    old_deleted: bool = False


class Stage(enum.Enum):
    """Where a rotation is."""

    CREATE = "create the replacement"
    RECOVER = "look for the replacement"
    UNTAG = "remove the rotation nonce"
    RETIRE = "retire the old token"
    DONE = "done"


class Rotator:
    """One rotation of the token at ``ref`` (already read as ``old``)."""

    def __init__(
        self,
        ops: TokenOps,
        ref: TokenRef,
        old: APIToken,
        *,
        grace: timedelta,
        expires: datetime | None,
        recovery_delay: float,
    ) -> None:
        self.ops = ops
        self.recovery_delay = recovery_delay
        self.ref = ref
        self.old = old
        self.grace = grace
        self.nonce = uuid.uuid4().hex
        self.stage = Stage.CREATE
        self.new: APIToken | None = None
        self.lost: RBTokensError | None = None
        self.result: Rotation | None = None
        extra = {k: v for k, v in old.extra_data.items() if k not in NOT_COPIED}
        extra[ROTATION_KEY] = self.nonce
        self.fields: dict[str, Any] = {
            "note": old.note,
            "policy": old.policy,
            "extra_data_json": extra,
        }
        if expires is not None:
            self.fields["expires"] = expires

    @property
    def look_for(self) -> str:
        """How to find the replacement by hand."""
        return (
            f"look for a token of {self.ref.owner} whose extra_data[{ROTATION_KEY!r}] is "
            f"{self.nonce!r}"
        )

    async def run(self) -> Rotation:
        """Drive the stages to the end; see :meth:`_failed` for what a failure means."""
        stages = {
            Stage.CREATE: self._create,
            Stage.RECOVER: self._recover,
            Stage.UNTAG: self._untag,
            Stage.RETIRE: self._retire,
        }
        while self.stage is not Stage.DONE:
            try:
                self.stage = await stages[self.stage]()
            except RotationError:
                raise
            except BaseException as exc:
                error = await self._failed(exc)
                if error is exc:
                    raise
                raise error from error.__cause__
        assert self.result is not None
        return self.result

    async def _failed(self, exc: BaseException) -> BaseException:
        """What to raise when the current stage failed with ``exc``."""
        ref = self.ref
        if self.stage is Stage.CREATE:
            if isinstance(exc, RBTokensError):
                return RotationError(
                    f"cannot rotate {ref}: the server refused to create the replacement, so "
                    f"nothing was created; the old token is {state_of(self.old)}: {exc}",
                    old_token=self.old,
                    cause=exc,
                )
            attach(
                exc,
                f"rbtokens: rotating {ref} stopped while creating its replacement, which may "
                f"exist: {self.look_for}",
            )
            return exc
        if self.stage is Stage.RECOVER:
            if isinstance(exc, RBTokensError):
                return self._lost_error(
                    f"the token list could not be read to look for it ({exc}). The replacement "
                    f"may exist or may still be created: {self.look_for}",
                    possibly_created=True,
                )
            attach(
                exc,
                f"rbtokens: rotating {ref} stopped while looking for its replacement, whose "
                f"creation was not confirmed: {self.look_for}",
            )
            return exc
        new = self.new
        assert new is not None
        if isinstance(exc, Exception):
            state = await self._probe()
            return RotationError(
                f"rotated {ref}: replacement token {new.id} was created (its secret is in "
                f"RotationError.new_token), but the rotation then failed "
                f"({type(exc).__name__}: {exc}); the old token is {state_of(state)}",
                new_token=new,
                old_token=state,
                cause=exc,
            )
        # Cancelled or interrupted: keep the secret reachable.
        log.warning(
            "rotating %s was interrupted (%s) after its replacement, token %d, was "
            "created; the replacement is the exception's new_token attribute and the old "
            "token's state is unknown",
            ref,
            type(exc).__name__,
            new.id,
        )
        attach(
            exc,
            f"rbtokens: rotating {ref} created replacement token {new.id} before this "
            "interruption; it is this exception's new_token attribute (secret included). "
            "The old token's state is unknown.",
            new,
        )
        return exc

    def _lost_error(
        self, what: str, *, candidates: list[APIToken] | None = None, possibly_created: bool
    ) -> RotationError:
        return RotationError(
            f"cannot rotate {self.ref}: the answer to creating the replacement was lost "
            f"({self.lost}) and {what}. The old token is {state_of(self.old)}",
            old_token=self.old,
            candidates=candidates or (),
            possibly_created=possibly_created,
            cause=self.lost,
        )

    # -- stages --------------------------------------------------------------

    async def _create(self) -> Stage:
        try:
            self.new = await self.ops.create_for(self.ref.owner, self.fields)
        except (TransportError, ResponseError) as exc:
            self.lost = exc  # no usable answer: the server may have created it, or may still
            return Stage.RECOVER
        self._created()
        return Stage.UNTAG

    def _created(self) -> None:
        assert self.new is not None
        log.info(
            "created token %d to replace %s (rotation nonce %s)", self.new.id, self.ref, self.nonce
        )

    async def _recover(self) -> Stage:
        found = await self._tagged()
        if not found:
            await anyio.sleep(self.recovery_delay)
            found = await self._tagged()
        if len(found) > 1:
            raise self._lost_error(
                f"{len(found)} tokens carrying this rotation's nonce were created: "
                + ", ".join(str(t.id) for t in found)
                + ". All of them, secrets included, are in RotationError.candidates; keep one "
                "and revoke the others",
                candidates=found,
                possibly_created=True,
            )
        if not found:
            raise self._lost_error(
                "no replacement appeared in two listings "
                f"{self.recovery_delay:g} s apart. The server may still create it: "
                f"{self.look_for} (its secret is listed with it) before rotating again",
                possibly_created=True,
            )
        log.warning(
            "recovered replacement token %d for %s by its rotation nonce after: %s",
            found[0].id,
            self.ref,
            self.lost,
        )
        self.new = found[0]
        self._created()
        return Stage.UNTAG

    async def _tagged(self) -> list[APIToken]:
        """The owner's tokens tagged with this rotation's nonce."""
        tokens = await self.ops.tokens_of(self.ref.owner)
        return [t for t in tokens if t.extra_data.get(ROTATION_KEY) == self.nonce]

    async def _untag(self) -> Stage:
        """Remove the nonce, which is only needed until the replacement is in hand."""
        new = self.new
        assert new is not None
        if ROTATION_KEY not in new.extra_data:
            return Stage.RETIRE
        try:
            with self.ops.guard(f"remove the rotation nonce from token {new.id}"):
                ref = await self.ops.ref(new, self.ref.owner)
                untagged = await ref.item.update(extra_data_json={ROTATION_KEY: None})
        except TokensError as exc:
            log.warning("replacement token %d keeps extra_data[%r]: %s", new.id, ROTATION_KEY, exc)
            return Stage.RETIRE
        # The answer carries the secret too; keep the one in hand if it does not.
        if untagged.token == new.token:
            self.new = untagged
        return Stage.RETIRE

    async def _retire(self) -> Stage:
        new, ref, old = self.new, self.ref, self.old
        assert new is not None
        if self.grace <= timedelta(0):
            # Not PUT valid=false first: 8.1 answers it but does not save it.
            try:
                with self.ops.guard(f"delete {ref}"):
                    await self.ops.delete_ref(ref)
            except TokenNotFoundError:
                log.info("%s was already gone; replaced by token %d", ref, new.id)
            except TokensError as exc:
                raise await self._retire_failed("deleting the old token", exc) from exc
            else:
                log.info("deleted %s, replaced by token %d", ref, new.id)
            self.result = Rotation(
                new_token=new, old_token=None, old_expires=None, old_deleted=True
            )
            return Stage.DONE
        target = datetime.now(UTC) + self.grace
        if old.expires is not None and old.expires <= target:
            self.result = Rotation(new_token=new, old_token=old, old_expires=old.expires)
            return Stage.DONE
        try:
            with self.ops.guard(f"set the expiry of {ref}"):
                updated = await ref.item.update(expires=target)
                if not same_time(updated.expires, target):
                    updated = await ref.item.get()
        except TokensError as exc:
            raise await self._retire_failed("setting the old token's expiry", exc) from exc
        if not same_time(updated.expires, target):
            raise RotationError(
                f"rotated {ref}: replacement token {new.id} was created (its secret is in "
                "RotationError.new_token), but the server did not keep the old token's new "
                f"expiry {target.isoformat()}; the old token is {state_of(updated)}",
                new_token=new,
                old_token=updated,
            )
        log.info(
            "%s accepts new logins until %s; revoke it then to end the sessions opened with it",
            ref,
            target.isoformat(),
        )
        self.result = Rotation(new_token=new, old_token=updated, old_expires=updated.expires)
        return Stage.DONE

    async def _retire_failed(self, step: str, exc: TokensError) -> RotationError:
        """The error for a failed retire step, with the old token's state read back."""
        state = await self._probe()
        assert self.new is not None
        return RotationError(
            f"rotated {self.ref}: replacement token {self.new.id} was created (its secret is in "
            f"RotationError.new_token), but {step} failed ({exc}); the old token is "
            f"{state_of(state)}",
            new_token=self.new,
            old_token=state,
            cause=exc.__cause__ or exc,
        )

    async def _probe(self) -> APIToken | None:
        """The old token's current state, or ``None`` if it cannot be read."""
        try:
            return await self.ref.item.get()
        except RBTokensError:
            return None
