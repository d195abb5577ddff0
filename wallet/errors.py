"""The one error type the wallet shows to people: what went wrong, and what to do next."""

from __future__ import annotations

from i18n import _


class WalletError(Exception):
    """A failure explained in plain words; ``hint`` says what the user can do about it."""

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class RefusedToSign(WalletError):
    """The API asked the wallet to sign something other than what the user asked for."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            _("Refusing to sign: {reason}.").format(reason=reason),
            _("Nothing was signed or sent. The institution's API may be misconfigured or compromised; "
              "check --api / HEALTHSILK_API_URL and contact the institution."),
            exit_code=3,
        )
        self.reason = reason


class ApiError(WalletError):
    """The API answered with an error (RFC 9457 problem+json)."""

    def __init__(self, status: int, title: str, detail: str, problem_type: str, hint: str | None) -> None:
        text = title if not detail or detail == title else f"{title}: {detail}"
        if status >= 500:
            message = _("The API could not do it ({status}): {text}").format(status=status, text=text)
        else:
            message = _("The API refused the request ({status}): {text}").format(status=status, text=text)
        super().__init__(message, hint)
        self.status = status
        self.title = title
        self.detail = detail
        self.problem_type = problem_type
