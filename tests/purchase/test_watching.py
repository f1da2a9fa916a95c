"""Watch progress (continue watching) and the refund rules that depend on watching:
an owner cancels within the refund window and before the film played past the
threshold; staff may cancel later."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from purchase import selectors
from purchase.models import Purchase, WatchProgress
from tests.conftest import make_user, make_vod

pytestmark = pytest.mark.django_db


def buy(client, committed, vod_id):
    with committed():
        response = client.post("/api/purchases/", {"vod": vod_id}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def save(client, vod_id, seconds):
    return client.put(f"/api/progress/{vod_id}/", {"position_seconds": seconds}, format="json")


# --- Progress ------------------------------------------------------------------------


def test_the_owner_saves_and_reads_their_position(user_client, user, vod, committed):
    buy(user_client, committed, vod.id)
    assert user_client.get(f"/api/progress/{vod.id}/").json()["position_seconds"] == 0
    assert save(user_client, vod.id, 95.5).status_code == 200
    body = save(user_client, vod.id, 40).json()  # went back: the furthest stays
    assert (body["position_seconds"], body["furthest_seconds"]) == (40, 95.5)
    assert selectors.watch_position(user_id=user.id, vod_id=vod.id) == 40
    assert user_client.get(f"/api/progress/{vod.id}/").json()["vod"] == vod.id


def test_a_position_in_a_film_one_does_not_own_is_a_404_and_saves_nothing(
    user_client, other_user, vod, committed
):
    other = APIClient()
    other.force_authenticate(other_user)
    buy(other, committed, vod.id)
    assert save(other, vod.id, 30).status_code == 200
    assert save(user_client, vod.id, 500).status_code == 404
    assert user_client.get(f"/api/progress/{vod.id}/").status_code == 404
    assert WatchProgress.objects.get().position_seconds == 30  # the owner's, untouched
    assert APIClient().put(f"/api/progress/{vod.id}/", {"position_seconds": 1}).status_code == 401


@pytest.mark.parametrize("value", [-1, "abc", None, 10**7])
def test_a_position_that_is_no_time_is_a_400(user_client, vod, committed, value):
    buy(user_client, committed, vod.id)
    response = save(user_client, vod.id, value)
    assert response.status_code == 400 and response.json()["errors"].keys() == {"position_seconds"}
    assert not WatchProgress.objects.exists()


def test_continue_watching_lists_started_unfinished_owned_films(user_client, user, committed):
    films = [make_vod() for _ in range(4)]
    for film in films:
        buy(user_client, committed, film.id)
    save(user_client, films[0].id, 30)
    save(user_client, films[1].id, 60)
    finished = WatchProgress.objects.filter(purchase__vod_id=films[1].id)
    finished.update(duration_seconds=61)
    save(user_client, films[2].id, 10)
    purchase = Purchase.objects.get(vod_id=films[2].id)
    with override_settings(REFUND_WATCHED_SECONDS=600):
        assert user_client.post(f"/api/purchases/{purchase.id}/cancel/").status_code == 200
    listed = user_client.get("/api/progress/").json()["results"]
    assert [p["vod"] for p in listed] == [films[0].id]


def test_the_library_shows_continue_watching_and_the_progress(client, user, committed):
    films = [make_vod(title=f"Reel {i}") for i in range(2)]
    api = APIClient()
    api.force_authenticate(user)
    for film in films:
        buy(api, committed, film.id)
    save(api, films[1].id, 125)
    client.force_login(user)
    page = client.get("/library/").content.decode()
    row = page.split('class="continue-watching"')[1].split("</section>")[0]
    assert "Reel 1" in row and "Reel 0" not in row
    assert "Stopped at 2:05" in row


# --- The refund rules ------------------------------------------------------------------


def test_within_the_window_and_before_the_threshold_the_owner_cancels(user_client, vod, committed):
    bought = buy(user_client, committed, vod.id)
    save(user_client, vod.id, 119)
    with committed():
        response = user_client.post(f"/api/purchases/{bought['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_after_the_film_played_past_the_threshold_the_owner_cannot_cancel(
    user_client, vod, committed, gateway
):
    bought = buy(user_client, committed, vod.id)
    save(user_client, vod.id, 121)
    save(user_client, vod.id, 5)  # going back does not undo having watched
    response = user_client.post(f"/api/purchases/{bought['id']}/cancel/")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["reason"]) == ("not_cancellable", "watched")
    assert "2 minutes" in body["detail"]
    assert Purchase.objects.get().status == "paid" and gateway.refunds == []


def test_after_the_refund_window_the_owner_cannot_cancel(user_client, vod, committed, gateway):
    bought = buy(user_client, committed, vod.id)
    Purchase.objects.update(created_at=timezone.now() - timedelta(days=7, minutes=1))
    response = user_client.post(f"/api/purchases/{bought['id']}/cancel/")
    assert response.status_code == 409
    assert response.json()["reason"] == "refund_window_passed"
    assert Purchase.objects.get().status == "paid" and gateway.refunds == []


def test_the_rules_follow_their_settings(user_client, vod, committed):
    bought = buy(user_client, committed, vod.id)
    Purchase.objects.update(created_at=timezone.now() - timedelta(days=10))
    save(user_client, vod.id, 200)
    with override_settings(REFUND_WINDOW_DAYS=30, REFUND_WATCHED_SECONDS=300), committed():
        assert user_client.post(f"/api/purchases/{bought['id']}/cancel/").status_code == 200


def test_staff_may_still_cancel_from_admin_and_the_api(admin_client, vod, committed, gateway):
    customer = make_user("late")
    api = APIClient()
    api.force_authenticate(customer)
    bought = buy(api, committed, vod.id)
    save(api, vod.id, 3600)
    Purchase.objects.update(created_at=timezone.now() - timedelta(days=30))
    assert api.post(f"/api/purchases/{bought['id']}/cancel/").status_code == 409
    staff = make_user("desk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_purchase"))
    desk = APIClient()
    desk.force_authenticate(staff)
    with committed():
        assert desk.post(f"/api/purchases/{bought['id']}/cancel/").status_code == 200
    assert Purchase.objects.get().status == "cancelled"

    again = buy(api, committed, vod.id)  # bought again, watched, late: admin cancels it
    save(api, vod.id, 3600)
    with committed():
        response = admin_client.post(
            "/admin/purchase/purchase/",
            {"action": "cancel_purchases", "_selected_action": [again["id"]]},
        )
    assert response.status_code == 302
    assert Purchase.objects.get(pk=again["id"]).status == "cancelled"


def test_the_storefront_says_the_rules_and_refuses_a_late_cancel(client, user, vod, committed):
    api = APIClient()
    api.force_authenticate(user)
    bought = buy(api, committed, vod.id)
    client.force_login(user)
    detail = client.get(f"/purchases/{bought['id']}/").content.decode()
    assert "You can cancel for a refund until" in detail and "Cancel purchase…" in detail
    assert "within 7 days of buying" in client.get(f"/films/{make_vod().id}/").content.decode()

    save(api, vod.id, 130)
    detail = client.get(f"/purchases/{bought['id']}/").content.decode()
    assert "No longer refundable: the film has played past 2 minutes." in detail
    assert "Cancel purchase…" not in detail
    assert f"/purchases/{bought['id']}/cancel/" not in client.get("/purchases/").content.decode()
    page = client.get(f"/purchases/{bought['id']}/cancel/", follow=True)
    assert "the film has played past 2 minutes" in page.content.decode()
    response = client.post(f"/purchases/{bought['id']}/cancel/", follow=True)
    assert "can no longer be refunded" in response.content.decode()
    assert Purchase.objects.get().status == "paid"


def test_a_position_stays_within_the_feature_and_the_library_shows_the_share(
    client, user_client, user, vod, committed
):
    from catalog.models import VodMedia

    VodMedia.objects.create(
        vod=vod,
        kind="feature",
        file="vods/feature.mp4",
        content_type="video/mp4",
        duration_seconds=200,
        size_bytes=1000,
        width=640,
        height=360,
        codec="h264/aac",
    )
    buy(user_client, committed, vod.id)
    body = save(user_client, vod.id, 5000).json()
    assert (body["position_seconds"], body["duration_seconds"]) == (200, 200)
    save(user_client, vod.id, 100)
    client.force_login(user)
    assert 'aria-valuenow="50"' in client.get("/library/").content.decode()


def test_options_on_a_progress_describes_it_without_a_500(user_client, vod, committed):
    buy(user_client, committed, vod.id)
    assert user_client.options(f"/api/progress/{vod.id}/").status_code == 200
    assert user_client.options(f"/api/progress/{vod.id + 1000}/").status_code == 404  # not owned
