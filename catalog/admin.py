"""Django admin for the catalog: staff add, edit and retire films (through the same
services as the API), and attach their feature and trailer (whose facts are read from
the uploaded file). Films are never deleted: purchases name them, and owners keep them."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db import models, transaction
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog import services
from catalog.media import NotAVideo, media_probe
from catalog.models import Vod, VodMedia, media_storage
from vodstore.admin_tools import won_amount

MEDIA_FACTS = ["content_type", "duration_seconds", "size", "picture", "codec"]
# what the form copies from the probe onto the row
PROBED = ["content_type", "duration_seconds", "size_bytes", "width", "height", "codec"]


class VodMediaForm(forms.ModelForm):
    """A feature or trailer upload: refused unless PyAV reads it as a video, whose
    duration, size, format and codec then fill the read-only fields."""

    class Meta:
        model = VodMedia
        fields = ["vod", "kind", "file"]
        # no "Currently: <link>": media files have no public URL (the row names the file)
        widgets = {"file": forms.FileInput(attrs={"accept": "video/*"})}

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if "file" in self.changed_data and upload:
            try:
                info = media_probe(upload)
            except NotAVideo:
                raise forms.ValidationError(
                    _("This file is not a video the store can read (MP4, WebM, ...)."),
                    code="not_a_video",
                ) from None
            for fact in PROBED:
                setattr(self.instance, fact, getattr(info, fact))
        return upload

    def save(self, commit: bool = True) -> VodMedia:
        replaced = None
        if self.instance.pk and "file" in self.changed_data:
            stored = VodMedia.objects.filter(pk=self.instance.pk).values_list("file", flat=True)
            replaced = stored.first()
        media = super().save(commit=commit)
        if replaced and replaced != media.file.name:
            # the old file goes once the row naming the new one is committed
            transaction.on_commit(lambda: media_storage().delete(replaced))
        return media


class MediaFacts:
    """Read-only columns: the file's name in the media storage, its size in readable
    units, its picture size."""

    @admin.display(description=_("stored as"))
    def stored_as(self, obj: VodMedia) -> str:
        return obj.file.name or "-"

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, obj: VodMedia) -> str:
        return filesizeformat(obj.size_bytes) if obj.size_bytes is not None else "-"

    @admin.display(description=_("picture"))
    def picture(self, obj: VodMedia) -> str:
        return f"{obj.width}x{obj.height}" if obj.width else "-"


class VodMediaInline(MediaFacts, admin.TabularInline):
    model = VodMedia
    form = VodMediaForm
    fields = ["kind", "file", *MEDIA_FACTS]
    readonly_fields = MEDIA_FACTS
    extra = 0
    max_num = len(VodMedia.Kind.values)


@admin.register(Vod)
class VodAdmin(admin.ModelAdmin):
    list_display = ["title", "genre", "release_year", "runtime_minutes", "price_won", "is_active"]
    list_filter = ["is_active", "genre", "release_year"]
    search_fields = ["title"]
    list_editable = ["is_active"]
    ordering = ["-created_at"]
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 50
    # a poster URL typed without a scheme is taken as https (Django 6.0's default)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [VodMediaInline]
    actions = ["retire", "put_on_sale"]

    @admin.display(description=_("price"), ordering="price")
    def price_won(self, obj: Vod) -> str:
        return won_amount(obj.price)

    def save_model(self, request, obj: Vod, form, change: bool) -> None:
        # Through the services, as the API: a film added here publishes VodRegistered.
        # The form's instance itself is saved: its media inlines are attached to it.
        if change:
            changed = {name: form.cleaned_data[name] for name in form.changed_data}
            services.vod_update(vod=obj, data=changed)
        else:
            services.vod_register(vod=obj)

    def has_delete_permission(self, request, obj: Vod | None = None) -> bool:
        # Purchases name films by id and their owners keep watching them: a film leaves
        # the store by being retired (off sale), never deleted. No delete link or action.
        return False

    def delete_view(self, request, object_id, extra_context=None):
        """A film's delete address (an old link, a typed URL) says why there is nothing
        to delete and goes back to the film, where it can be taken off sale."""
        self.message_user(
            request,
            gettext(
                "Films are not deleted: their buyers keep them. To take a film out of the "
                "store, untick “On sale” (or use the action “Retire the selected films”)."
            ),
            messages.ERROR,
        )
        change_url = reverse("admin:catalog_vod_change", args=[quote(object_id)])
        return HttpResponseRedirect(change_url)

    @admin.action(
        description=_("Retire the selected films (off sale; their owners keep them)"),
        permissions=["change"],
    )
    def retire(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.vod_set_on_sale(vod_ids=ids, on_sale=False)
        message = ngettext("Retired %(count)d film.", "Retired %(count)d films.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Put the selected films on sale"), permissions=["change"])
    def put_on_sale(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.vod_set_on_sale(vod_ids=ids, on_sale=True)
        message = ngettext("Put %(count)d film on sale.", "Put %(count)d films on sale.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


@admin.register(VodMedia)
class VodMediaAdmin(MediaFacts, admin.ModelAdmin):
    form = VodMediaForm
    list_display = ["vod", "kind", "duration_seconds", "size", "content_type", "codec"]
    list_filter = ["kind", "content_type"]
    list_select_related = ["vod"]
    search_fields = ["vod__title"]
    raw_id_fields = ["vod"]
    fields = ["vod", "kind", "file", "stored_as", *MEDIA_FACTS, "created_at"]
    readonly_fields = ["stored_as", *MEDIA_FACTS, "created_at"]
    list_per_page = 50
