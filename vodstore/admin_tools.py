"""Shared pieces of the Django admin."""


class ReadOnlyAdminMixin:
    """For model admins and inlines whose rows change only through services (payments,
    purchases, the ledger): staff can look, never add, edit or delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
