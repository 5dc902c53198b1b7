"""AWS::Logs::LogGroup through the log store: a group made with CloudWatch's retention periods (at 3653 days, the
longest, and 4, not one of them, refused), its own retention honoured by the purge while other groups keep the
server's, changed in place and removed (back to the server's), a made group refused a second time, deleted with its
events, and what Nimbus cannot keep (a KMS key) refused; DescribeLogGroups shows the group and its retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from providers_support import Stack, run

from nimbus.api.logs_api import LogsApi
from nimbus.errors import InvalidParameter, InvalidParameterValue, ResourceConflict

DAY_MS = 86_400_000


def test_log_group_retention_purge_and_delete(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        logs = stack.services.logs
        made = await stack.put("Logs", "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn", "RetentionInDays": 1})
        assert made.ref == "/aws/lambda/fn"
        assert made.attributes["Arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/fn:*"
        described = LogsApi(logs).describe_log_groups({"logGroupNamePrefix": "/aws/lambda/"})["logGroups"]
        assert [(g["logGroupName"], g["retentionInDays"], g["storedBytes"]) for g in described] == [
            ("/aws/lambda/fn", 1, 0)]  # fmt: skip
        now = 100 * DAY_MS
        for group in ("/aws/lambda/fn", "/aws/lambda/other"):
            logs.emit(group, "s", now - 2 * DAY_MS, "two days old")
            logs.emit(group, "s", now, "new")
        await logs.flush()
        await asyncio.to_thread(logs.purge, now)  # the server's 30 days for other, one day for fn
        assert [e.message for e in logs.query("/aws/lambda/fn")] == ["new"]
        assert len(logs.query("/aws/lambda/other")) == 2
        await stack.put("Logs", "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn", "RetentionInDays": "3653"})
        assert logs.made_groups()["/aws/lambda/fn"][1] == 3653
        await stack.put("Logs", "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn"})
        assert logs.made_groups()["/aws/lambda/fn"][1] is None
        with pytest.raises(InvalidParameter, match="retentionInDays"):
            await stack.put("Logs", "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn", "RetentionInDays": 4})
        with pytest.raises(ResourceConflict):
            await stack.put("Again", "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn"})
        with pytest.raises(InvalidParameterValue, match="KmsKeyId"):
            await stack.put("Kms", "AWS::Logs::LogGroup", {"KmsKeyId": "arn:aws:kms:us-east-1:000000000000:key/k"})
        unnamed = await stack.put("Unnamed", "AWS::Logs::LogGroup", {})
        assert unnamed.ref.startswith("app-Unnamed-")
        await stack.delete("Logs")
        assert logs.query("/aws/lambda/fn") == []
        assert not logs.has_group("/aws/lambda/fn")
        assert logs.has_group(unnamed.ref)  # made, with no events yet

    run(tmp_path, body)
