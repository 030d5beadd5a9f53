"""The forms behind the pages; each field's error is shown next to it."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from portus import policy
from portus.accounts.backends import SignInRefused
from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User, validate_username
from portus.registry.models import Role, Team, Visibility
from portus.registry.names import MAX_NAMESPACE_NAME, InvalidName, check_namespace_name
from portus.webhooks.models import ContentType, RequestMethod

ROLE_CHOICES = Role.choices
# Each choice carries its meaning, so a radio button says who may pull before it is picked.
VISIBILITY_CHOICES = [(value, f"{label}: {policy.WHO_MAY_PULL[value]}") for value, label in Visibility.choices]


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying why when the account is locked or disabled."""

    retry_after: int | None = None  # set when this address made too many failed attempts

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except SignInRefused as refused:
            self.retry_after = refused.retry_after
            raise self.get_invalid_login_error(refused.failure) from None

    def get_invalid_login_error(self, failure: Failure | None = None) -> ValidationError:
        if failure is Failure.THROTTLED:
            return ValidationError(
                f"Too many failed sign-ins from your address: wait {self.retry_after} seconds and try again.",
                code="throttled",
            )
        if failure is Failure.LOCKED:
            return ValidationError(
                "Too many failed sign-ins: this account is locked for a while. Try again later, "
                "or reset your password.",
                code="locked",
            )
        if failure is Failure.UNREACHABLE:
            return ValidationError(
                "The LDAP directory cannot be reached right now. Try again later, or tell an administrator.",
                code="unreachable",
            )
        if failure is Failure.DISABLED:
            return ValidationError("This account is disabled; ask an administrator to enable it.", code="inactive")
        return ValidationError("The user name or password is wrong. Check both and try again.", code="invalid_login")


def _choose(sentence: str) -> dict[str, str]:
    """The same sentence for a missing and for an unknown choice."""
    return {"required": sentence, "invalid_choice": sentence}


def _check_username(value: str) -> str:
    value = value.strip()
    validate_username(value)
    if User.objects.filter(username=value).exists():
        raise ValidationError("This user name is taken; choose another.")
    return value


class PasswordPairMixin(forms.Form):
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password.",
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if first and second and first != second:
            raise ValidationError("The two passwords differ; type the same one twice.")
        if second:
            password_validation.validate_password(second)
        return second or ""


class SignUpForm(PasswordPairMixin):
    username = forms.CharField(
        max_length=64,
        help_text="Lower-case letters and digits; also your personal namespace.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(required=True, help_text="Used for password resets.")
    field_order = ["username", "email", "password1", "password2"]

    def clean_username(self) -> str:
        return _check_username(self.cleaned_data["username"])


class UserCreateForm(forms.Form):
    """An administrator creating a person or a bot."""

    username = forms.CharField(max_length=64)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty for a bot: bots sign in with application tokens only.",
    )
    admin = forms.BooleanField(required=False, label="Administrator")
    bot = forms.BooleanField(required=False, label="Bot (no password, tokens only)")

    def clean_username(self) -> str:
        return _check_username(self.cleaned_data["username"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("bot"):
            if not data.get("password"):
                self.add_error("password", "A person needs a password; tick Bot for a token-only account.")
            else:
                try:
                    password_validation.validate_password(data["password"])
                except ValidationError as exc:
                    self.add_error("password", exc)
        return data


class DeleteImagesForm(forms.Form):
    """Confirming a namespace's or a user's deletion; images in the registry go only when ticked."""

    delete_images = forms.BooleanField(required=False, label="Also delete its images in the registry")


class UserChangeForm(forms.Form):
    """One of the buttons on a user's administration page."""

    change = forms.ChoiceField(
        choices=[(change, change) for change in ("make-admin", "remove-admin", "enable", "disable", "unlock")],
        error_messages=_choose("Unknown change; use the buttons on the user's page."),
    )


class ProfileForm(forms.Form):
    email = forms.EmailField(required=False)
    display_name = forms.CharField(
        max_length=150,
        required=False,
        help_text="Shown instead of your user name where the administrator has turned display names on.",
    )
    current_password = forms.CharField(
        required=False,
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed to change your email (password resets go there).",
    )


def proves_identity(user: User, password: str, address: str) -> bool:
    """Whether PASSWORD is USER's, checked like a sign-in: failures count toward the lockout, so a
    borrowed session cannot guess the password here either."""
    result = verify(user.username, password, address=address, allow_tokens=False)
    return result.user is not None and result.user.pk == user.pk


class PasswordChangeForm(PasswordPairMixin):
    old_password = forms.CharField(
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["old_password", "password1", "password2"]

    def __init__(self, user: User, *args: Any, address: str = "", **kwargs: Any) -> None:
        self.user = user
        self.address = address
        super().__init__(*args, **kwargs)

    def clean_old_password(self) -> str:
        value = self.cleaned_data["old_password"]
        if not proves_identity(self.user, value, self.address):
            raise ValidationError("That is not your current password (or too many wrong ones; wait a while).")
        return value


EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where you use it, such as “laptop” or “ci”.")
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")


def _namespace_name(value: str, what: str = "namespace") -> str:
    try:
        return check_namespace_name(value.strip(), what)
    except InvalidName as exc:
        raise ValidationError(str(exc)) from None


class TeamForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAMESPACE_NAME, help_text="Lower-case letters and digits, like a namespace.")
    description = forms.CharField(required=False, widget=forms.Textarea, help_text="Markdown.")

    def clean_name(self) -> str:
        return _namespace_name(self.cleaned_data["name"], "team")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=64, label="User name")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.CONTRIBUTOR)

    def clean_username(self) -> User:
        user = User.objects.filter(username=self.cleaned_data["username"].strip(), is_active=True).first()
        if user is None:
            raise ValidationError("No enabled user has this name; check the spelling.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, error_messages=_choose("Choose owner, contributor or viewer."))


class NamespaceForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAMESPACE_NAME, help_text="The first part of image names: NAME/app.")
    team: forms.ModelChoiceField[Team] = forms.ModelChoiceField(
        queryset=Team.objects.none(), empty_label=None, help_text="The team that owns it."
    )
    visibility = forms.ChoiceField(choices=VISIBILITY_CHOICES, widget=forms.RadioSelect, initial=Visibility.PRIVATE)
    description = forms.CharField(required=False, widget=forms.Textarea, help_text="Markdown.")

    def __init__(self, teams: QuerySet[Team], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Team]", self.fields["team"]).queryset = teams

    def clean_name(self) -> str:
        return _namespace_name(self.cleaned_data["name"])


class DescriptionForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea, help_text="Markdown.")


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(
        choices=VISIBILITY_CHOICES,
        widget=forms.RadioSelect,
        error_messages=_choose("Choose private, protected or public."),
    )


class TransferForm(forms.Form):
    team: forms.ModelChoiceField[Team] = forms.ModelChoiceField(
        queryset=Team.objects.none(), empty_label=None, label="New owning team"
    )

    def __init__(self, teams: QuerySet[Team], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Team]", self.fields["team"]).queryset = teams


class CommentForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Comment",
        max_length=10_000,
        help_text="Markdown.",
    )


class RegistryForm(forms.Form):
    name = forms.CharField(max_length=100, initial="registry")
    hostname = forms.CharField(
        max_length=255,
        help_text="HOST:PORT at which Portus reaches the registry, for example registry.example.com:5000.",
    )
    external_hostname = forms.CharField(
        max_length=255,
        required=False,
        help_text="The host name people pull from, if it differs (behind a proxy).",
    )
    use_ssl = forms.BooleanField(required=False, label="The registry speaks HTTPS")
    skip_check = forms.BooleanField(required=False, label="Save even if the registry cannot be reached now")

    def clean_hostname(self) -> str:
        value = self.cleaned_data["hostname"].strip()
        if "://" in value or "/" in value:
            raise ValidationError("Give only HOST:PORT, without http:// or a path.")
        return value


class AllowlistForm(forms.Form):
    """One allowlist entry: the scope choices are those the user may manage (global: admins)."""

    vulnerability_id = forms.CharField(
        label="Vulnerability id", max_length=128, help_text="As the findings name it: CVE-2024-1234, GHSA-..., DSA-..."
    )
    scope = forms.ChoiceField(label="Holds for", error_messages=_choose("Pick where the entry holds."))
    comment = forms.CharField(label="Why it is accepted", max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    expires_at = forms.DateTimeField(
        label="Expires", required=False, help_text="Optional: after this date and time the findings count again."
    )

    def __init__(self, *args: Any, scopes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["scope"]).choices = scopes


class WebhookForm(forms.Form):
    """A new webhook; the address itself is checked by the action (http or https, no credentials in it)."""

    name = forms.CharField(max_length=255, help_text="What it is for, such as “ci” or “deploy”.")
    url = forms.CharField(
        label="Address",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://ci.example.com/hook"}),
        help_text="An http:// or https:// address; private and loopback addresses only where the administrator "
        "allows them.",
    )
    request_method = forms.ChoiceField(
        label="Method", choices=RequestMethod.choices, initial=RequestMethod.POST, widget=forms.RadioSelect
    )
    content_type = forms.ChoiceField(
        label="Body", choices=ContentType.choices, initial=ContentType.JSON, widget=forms.RadioSelect
    )
    username = forms.CharField(
        label="Basic auth user", max_length=255, required=False, help_text="Sent with the password when both are set."
    )
    password = forms.CharField(
        label="Basic auth password",
        max_length=1000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Kept sealed; never shown again.",
    )
    enabled = forms.BooleanField(label="Enabled: send deliveries", required=False, initial=True)


class WebhookEditForm(WebhookForm):
    """Changing a webhook: an empty password keeps the one stored (it is never sent back to the page)."""

    clear_password = forms.BooleanField(label="Remove the stored password", required=False)
    field_order = ["name", "url", "request_method", "content_type", "username", "password", "clear_password"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = "Leave empty to keep the stored one; kept sealed, never shown again."


class WebhookHeaderForm(forms.Form):
    """A header sent with every delivery; setting one whose name exists replaces its value."""

    name = forms.CharField(label="Header", max_length=255, widget=forms.TextInput(attrs={"placeholder": "X-Token"}))
    value = forms.CharField(
        max_length=4000,
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Kept sealed and never shown again; set the same header again to change it.",
    )


class WebhookEnabledForm(forms.Form):
    """The on/off button of a webhook in the list."""

    enabled = forms.TypedChoiceField(
        choices=[("true", "on"), ("false", "off")],
        coerce=lambda value: value == "true",
        error_messages=_choose("Use the Enable or Disable button."),
    )
