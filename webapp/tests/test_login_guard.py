"""Admin login is protected against guessing (django-axes)."""

from tests.users import PASSWORD


def _login(client, password):
    return client.post("/admin/login/?next=/admin/", {"username": "ada", "password": password})


def test_a_right_password_logs_in(client, superuser):
    response = _login(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_five_wrong_guesses_lock_the_account_even_for_the_right_password(client, superuser, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200  # the form again, with an error
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    after = _login(client, PASSWORD)
    assert after.status_code == 429
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_behind_the_proxy_one_client_cannot_lock_out_another(client, superuser, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    guesses = [
        client.post(
            "/admin/login/?next=/admin/",
            {"username": "ada", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="203.0.113.66",
        ).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert guesses[-1] == 429  # the guessing client is locked out
    assert _login(client, "wrong").status_code == 200  # another client behind the proxy: not locked
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ada", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert response.status_code == 302
