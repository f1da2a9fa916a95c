"""Storefront page of mileage: the user's balance and ledger."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mileage.selectors import mileage_balance, mileage_entries

PAGE_SIZE = 20


@login_required
def mileage_view(request: HttpRequest) -> HttpResponse:
    """Balance, how points are earned and spent, and the ledger, newest first."""
    page = Paginator(mileage_entries(user_id=request.user.id), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "mileage/mileage.html",
        {
            "balance": mileage_balance(user_id=request.user.id),
            "earn_per_purchase": settings.MILEAGE_EARN_PER_PURCHASE,
            "free_vod_cost": settings.MILEAGE_FREE_VOD_COST,
            "page_obj": page,
            "entries": page,
        },
    )
