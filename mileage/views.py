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
    """Balance, how points are earned and spent (and why a balance can be below zero),
    and the ledger, newest first. The ledger's film titles come from the purchase
    app's `ledger` template tags: mileage itself knows only purchase ids."""
    page = Paginator(mileage_entries(user_id=request.user.id), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    balance = mileage_balance(user_id=request.user.id)
    cost = settings.MILEAGE_FREE_VOD_COST
    return render(
        request,
        "mileage/mileage.html",
        {
            "balance": balance,
            "earn_per_purchase": settings.MILEAGE_EARN_PER_PURCHASE,
            "free_vod_cost": cost,
            "points_needed": max(0, cost - balance),
            "page_obj": page,
            "entries": page,
        },
    )
