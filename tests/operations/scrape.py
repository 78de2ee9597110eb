"""Reading Prometheus text from a running process."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url, token=None):
    """{(sample name, frozenset of label items): value} of every sample at ``url``."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    """The sample's value, or None when the process does not expose it."""
    return samples.get((name, frozenset(labels.items())))


def names(samples):
    return {name for name, _ in samples}
