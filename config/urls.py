from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from sequences.auth import AdminLoginForm, LoginForm

# The admin's sign-in is limited as the product's is (sequences.auth).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path(
        "login/",
        login_not_required(auth_views.LoginView.as_view(authentication_form=LoginForm)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("sequences.urls")),
    path("", include("deliverability.urls")),
]
