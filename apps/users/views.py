"""HTML pages: the e-mailed password-reset link opens Django's set-password form."""

from django.contrib.auth import views as auth_views

from apps.users.services import user_tokens_revoke


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's form, plus what the API confirm does: every refresh token of the user is revoked."""

    success_url = "/accounts/reset/done/"

    def form_valid(self, form):
        response = super().form_valid(form)
        user_tokens_revoke(user=form.user)
        return response
