"""What hangs on an alias goes with it: a re-created alias of the same name starts bare, as on Lambda (its old
resource policy would otherwise make a function URL public again)."""

from __future__ import annotations

from typing import Any

import pytest

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def test_deleting_an_alias_drops_its_policy_url_and_event_invoke_config(
    lam: Any, create_function: Any, fn_name: str
) -> None:
    create_function(fn_name, {"app.py": HANDLER})
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    lam.add_permission(
        FunctionName=fn_name, Qualifier="live", StatementId="public", Action="lambda:InvokeFunctionUrl",
        Principal="*", FunctionUrlAuthType="NONE",
    )  # fmt: skip
    lam.create_function_url_config(FunctionName=fn_name, Qualifier="live", AuthType="NONE")
    lam.put_function_event_invoke_config(FunctionName=fn_name, Qualifier="live", MaximumRetryAttempts=0)

    lam.delete_alias(FunctionName=fn_name, Name="live")
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=fn_name, Qualifier="live")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName=fn_name, Qualifier="live")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=fn_name, Qualifier="live")
    assert lam.list_function_url_configs(FunctionName=fn_name)["FunctionUrlConfigs"] == []
