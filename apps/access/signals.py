"""A key changed or deleted in this process is not served from its cache any more."""

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.access import keys
from apps.access.models import ApiKey


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def forget_changed_key(sender, instance, **kwargs):
    keys.forget(instance.id)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def forget_keys_of_changed_user(sender, instance, **kwargs):
    for key_id in ApiKey.objects.filter(owner=instance).values_list("id", flat=True):
        keys.forget(key_id)
