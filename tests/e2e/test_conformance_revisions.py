"""Conformance: revision ids and versions behave as on AWS Lambda (issue 17, section 3).

Each test names the AWS behaviour it checks and the API reference section that documents it
(https://docs.aws.amazon.com/lambda/latest/api/). Driven through boto3.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_support import ECHO, expect_error

DESCRIBED = "def handler(event, context):\n    return 'described'\n"


def revision(lam: Any, name: str, qualifier: str | None = None) -> str:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    return str(lam.get_function_configuration(FunctionName=name, **kwargs)["RevisionId"])


def test_a_new_function_gets_a_new_revision_when_it_becomes_active(
    lam: Any, create_function: Any, fn_name: str
) -> None:
    """FunctionConfiguration.RevisionId: "The latest updated revision of the function"; CreateFunction answers
    while the function is Pending, and it changes when the function becomes Active (API reference: CreateFunction,
    FunctionConfiguration)."""
    created = create_function(fn_name, {"app.py": ECHO})
    assert created["State"] == "Pending"
    active = lam.get_function_configuration(FunctionName=fn_name)
    assert active["State"] == "Active"
    assert active["RevisionId"] != created["RevisionId"]


def test_an_update_answers_in_progress_and_completes_with_a_new_revision(
    lam: Any, create_function: Any, fn_name: str
) -> None:
    """UpdateFunctionConfiguration / UpdateFunctionCode answer with LastUpdateStatus InProgress; the revision
    changes again when the update completes (API reference: UpdateFunctionConfiguration, RevisionId)."""
    create_function(fn_name, {"app.py": ECHO})
    before = revision(lam, fn_name)
    updated = lam.update_function_configuration(FunctionName=fn_name, Timeout=9, RevisionId=before)
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["RevisionId"] != before
    done = lam.get_function_configuration(FunctionName=fn_name)
    assert done["LastUpdateStatus"] == "Successful"
    assert done["RevisionId"] not in (before, updated["RevisionId"])
    expect_error(lam.update_function_configuration, "PreconditionFailedException", 412,
                 FunctionName=fn_name, Timeout=10, RevisionId=before)  # fmt: skip


def test_publishing_a_version_changes_latest_revision(lam: Any, create_function: Any, fn_name: str) -> None:
    """PublishVersion changes $LATEST's RevisionId (API reference: PublishVersion, RevisionId: "Only update the
    function if the revision ID matches the ID that's specified")."""
    create_function(fn_name, {"app.py": ECHO})
    before = revision(lam, fn_name)
    published = lam.publish_version(FunctionName=fn_name, RevisionId=before)
    after = revision(lam, fn_name)
    assert after != before
    assert published["RevisionId"] not in (before, after)
    # publishing again with nothing changed returns the same version and changes nothing
    again = lam.publish_version(FunctionName=fn_name)
    assert (again["Version"], revision(lam, fn_name)) == (published["Version"], after)


def test_tag_and_untag_change_the_revision(lam: Any, create_function: Any, fn_name: str) -> None:
    """TagResource and UntagResource change the function, so its RevisionId changes (API reference: TagResource,
    UntagResource; FunctionConfiguration.RevisionId)."""
    created = create_function(fn_name, {"app.py": ECHO})
    arn = created["FunctionArn"]
    first = revision(lam, fn_name)
    lam.tag_resource(Resource=arn, Tags={"team": "a"})
    second = revision(lam, fn_name)
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    third = revision(lam, fn_name)
    assert len({first, second, third}) == 3
    # a tag changes nothing that runs: the function still answers, from the instance it already had
    assert lam.invoke(FunctionName=fn_name, Payload=b'{"a": 1}')["StatusCode"] == 200


@pytest.mark.parametrize("change", ["description", "timeout"])
def test_publish_version_publishes_when_any_published_field_changed(
    lam: Any, create_function: Any, fn_name: str, change: str
) -> None:
    """PublishVersion: "Lambda doesn't publish a version if the function's configuration and code haven't changed
    since the last version" — any published field counts, Description included (API reference: PublishVersion)."""
    create_function(fn_name, {"app.py": DESCRIBED}, Description="one")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"
    if change == "description":
        lam.update_function_configuration(FunctionName=fn_name, Description="two")
    else:
        lam.update_function_configuration(FunctionName=fn_name, Timeout=7)
    second = lam.publish_version(FunctionName=fn_name)
    assert second["Version"] == "2"
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "2", "unchanged since version 2"


def test_publish_version_description_of_its_own_is_no_change(lam: Any, create_function: Any, fn_name: str) -> None:
    """PublishVersion's Description describes the version; with $LATEST unchanged no new version is published
    (API reference: PublishVersion, Description)."""
    create_function(fn_name, {"app.py": DESCRIBED}, Description="latest")
    first = lam.publish_version(FunctionName=fn_name, Description="release one")
    assert (first["Version"], first["Description"]) == ("1", "release one")
    assert lam.publish_version(FunctionName=fn_name, Description="release two")["Version"] == "1"


def test_deleting_an_alias_deletes_its_provisioned_concurrency(lam: Any, create_function: Any, fn_name: str) -> None:
    """DeleteAlias removes the alias and what is configured on it: its provisioned concurrency configuration goes
    with it, so a re-created alias starts with none (API reference: DeleteAlias, PutProvisionedConcurrencyConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    lam.delete_alias(FunctionName=fn_name, Name="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    expect_error(lam.get_provisioned_concurrency_config, "ProvisionedConcurrencyConfigNotFoundException", 404,
                 FunctionName=fn_name, Qualifier="live")  # fmt: skip
    # the version itself can be provisioned now: the alias's configuration no longer holds it
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    deadline = time.monotonic() + 30
    while lam.get_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)["Status"] != "READY":
        assert time.monotonic() < deadline, "the version's provisioned instance never became ready"
        time.sleep(0.2)
    lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)
