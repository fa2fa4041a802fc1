"""Find what labkit left behind (by its tags) and remove it: ``labkit cleanup``."""

from __future__ import annotations

import os

from labkit.sagemaker.costs import TAG_KEY
from labkit.sagemaker.emulator import Emulator
from labkit.sagemaker.resources import ACTIVE, KINDS, RESOURCE_KINDS, remove_all
from labkit.sagemaker.target import Target

# --- finding what was left behind ------------------------------------------------------------------

def tagged_resources(client) -> list[tuple[str, str]]:
    """(kind, name) of every labkit-tagged running training job, endpoint, endpoint config and model in the region.

    Finished training jobs are left out: they no longer bill, and they cannot be deleted.
    """
    found = []
    for spec in RESOURCE_KINDS:
        for page in client.get_paginator(spec.list_call).paginate():
            for item in page[spec.list_key]:
                if spec.status_key and item.get(spec.status_key) not in ACTIVE:
                    continue
                tags_ = client.list_tags(ResourceArn=item[spec.arn_key]).get("Tags", [])
                if any(t["Key"] == TAG_KEY for t in tags_):
                    found.append((spec.kind, item[spec.name_key]))
    return found


def cleanup(target: Target | None = None, *, region: str | None = None, dry_run: bool = False,
            boto_session=None) -> list[tuple[str, str]]:
    """Stop every labkit-tagged running training job and delete every labkit-tagged endpoint, endpoint config
    and model in the region (what ``labkit cleanup`` runs).

    ``dry_run=True`` only lists. Returns the (kind, name) pairs found. Raises :class:`CleanupIncomplete`
    if something could not be removed. S3 objects (training data, artifacts) and Studio spaces are not touched.
    """
    import boto3

    running = Emulator.current()
    if boto_session is None and target is None and running is not None and running.running \
            and os.environ.get("AWS_ENDPOINT_URL") == running.url:
        boto_session = running.boto_session()  # this process's AWS settings point at the emulator: use its session
    session = boto_session or (target.boto_session if target else boto3.Session(region_name=region))
    region = session.region_name
    client = session.client("sagemaker", region_name=region)
    found = tagged_resources(client)
    if not found:
        print(f"No labkit-tagged running training jobs, endpoints, endpoint configs or models in {region}.")
        return found
    if dry_run:
        for kind, name in found:
            print(f"would {KINDS[kind].verb} {kind:<16} {name}")
        print(f"Dry run: nothing changed ({len(found)} labkit resource(s) in {region}).")
        return found
    remove_all(client, found, region=region, quiet=False)
    print(f"Removed {len(found)} labkit resource(s) in {region}.")
    return found
