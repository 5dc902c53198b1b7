"""The small per-function settings tools read and write beside a function: recursive loop detection
(2024-08-31), its code signing configuration (2020-06-30, 2020-04-22) and runtime management (2021-07-20).

Nimbus enforces none of them, but Terraform, SAM and the console read them after every create and write them on
request, so they are answered as Lambda answers them: recursion and runtime management are kept with the function
(internal `_` keys of its configuration, so they go with it) and read back; code signing has no configuration to
attach, as Nimbus serves no code signing configurations, so a function never has one. Every input member is
checked against botocore's model first.
"""

from __future__ import annotations

from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.api.jsonproto import JsonProtocol
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.registry import Registry
from nimbus.errors import InvalidParameterValue, NimbusError, ResourceNotFound

RECURSION = "/2024-08-31/functions/{FunctionName}/recursion-config"
CODE_SIGNING = "/2020-06-30/functions/{FunctionName}/code-signing-config"
SIGNING_CONFIGS = "/2020-04-22/code-signing-configs"
RUNTIME = "/2021-07-20/functions/{FunctionName}/runtime-management-config"
#: Lambda's default for a function that never had PutFunctionRecursionConfig
DEFAULT_RECURSION = "Terminate"


class CodeSigningConfigNotFound(NimbusError):
    wire_name = "CodeSigningConfigNotFoundException"
    status = 404
    error_type = "User"
    message_key = "Message"


class FunctionExtrasApi:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.proto = JsonProtocol("lambda", camel_paths=True)

    def register(self, router: Router) -> None:
        router.add("GET", RECURSION, self.get_recursion, "GetFunctionRecursionConfig")
        router.add("PUT", RECURSION, self.put_recursion, "PutFunctionRecursionConfig")
        router.add("GET", CODE_SIGNING, self.get_code_signing, "GetFunctionCodeSigningConfig")
        router.add("PUT", CODE_SIGNING, self.put_code_signing, "PutFunctionCodeSigningConfig")
        router.add("DELETE", CODE_SIGNING, self.delete_code_signing, "DeleteFunctionCodeSigningConfig")
        router.add("GET", SIGNING_CONFIGS, self.list_code_signing_configs, "ListCodeSigningConfigs")
        router.add("GET", SIGNING_CONFIGS + "/{CodeSigningConfigArn}", self.get_code_signing_config,
                   "GetCodeSigningConfig")  # fmt: skip
        router.add("GET", SIGNING_CONFIGS + "/{CodeSigningConfigArn}/functions", self.list_signed_functions,
                   "ListFunctionsByCodeSigningConfig")  # fmt: skip
        router.add("GET", RUNTIME, self.get_runtime, "GetRuntimeManagementConfig")
        router.add("PUT", RUNTIME, self.put_runtime, "PutRuntimeManagementConfig")

    def _checked(self, operation: str, req: Request, **members: Any) -> dict[str, Any]:
        """Every input member (path, query, body) checked against the model; a body's FunctionName never counts."""
        body = req.json() if req.body else {}
        value = {k: val for k, val in body.items() if k not in ("FunctionName", "Qualifier")}
        value |= {"FunctionName": req.params["FunctionName"]} | members
        return self.proto.validate(operation, {k: val for k, val in value.items() if val is not None})

    def _ref(self, checked: dict[str, Any]) -> v.FunctionRef:
        ref = v.parse_function_ref(
            checked["FunctionName"], region=self.settings.region, account=self.settings.account_id,
            qualifier=checked.get("Qualifier"),
        )  # fmt: skip
        self.registry.get(ref.name)
        return ref

    # ---- recursive loop detection ----
    async def get_recursion(self, req: Request) -> Response:
        ref = self._ref(self._checked("GetFunctionRecursionConfig", req))
        config = self.registry.get(ref.name).config
        return Response.json({"RecursiveLoop": config.get("_RecursiveLoop", DEFAULT_RECURSION)})

    async def put_recursion(self, req: Request) -> Response:
        checked = self._checked("PutFunctionRecursionConfig", req)
        ref = self._ref(checked)
        async with self.registry.editing(ref.name) as edit:
            await edit.set_settings("$LATEST", {"_RecursiveLoop": checked["RecursiveLoop"]})
        return Response.json({"RecursiveLoop": checked["RecursiveLoop"]})

    # ---- code signing (none can exist: Nimbus serves no code signing configurations) ----
    async def get_code_signing(self, req: Request) -> Response:
        ref = self._ref(self._checked("GetFunctionCodeSigningConfig", req))
        return Response.json({"CodeSigningConfigArn": "", "FunctionName": ref.name})

    async def put_code_signing(self, req: Request) -> Response:
        checked = self._checked("PutFunctionCodeSigningConfig", req)
        self._ref(checked)
        raise _no_signing_config(checked["CodeSigningConfigArn"])

    async def delete_code_signing(self, req: Request) -> Response:
        self._ref(self._checked("DeleteFunctionCodeSigningConfig", req))
        return Response(204)  # the function has none: deleting it leaves it so

    async def list_code_signing_configs(self, req: Request) -> Response:
        self.proto.validate("ListCodeSigningConfigs", _present(Marker=req.query_one("Marker"),
                                                               MaxItems=_int(req.query_one("MaxItems"))))  # fmt: skip
        return Response.json({"CodeSigningConfigs": []})

    async def get_code_signing_config(self, req: Request) -> Response:
        arn = req.params["CodeSigningConfigArn"]
        self.proto.validate("GetCodeSigningConfig", {"CodeSigningConfigArn": arn})
        raise ResourceNotFound(f"The code signing configuration cannot be found: {arn}")

    async def list_signed_functions(self, req: Request) -> Response:
        arn = req.params["CodeSigningConfigArn"]
        self.proto.validate("ListFunctionsByCodeSigningConfig", _present(
            CodeSigningConfigArn=arn, Marker=req.query_one("Marker"), MaxItems=_int(req.query_one("MaxItems"))
        ))  # fmt: skip
        raise ResourceNotFound(f"The code signing configuration cannot be found: {arn}")

    # ---- runtime management ----
    def _runtime_answer(self, name: str, qualifier: str | None, setting: dict[str, str]) -> dict[str, Any]:
        arn = self.registry.function_arn(name)
        out: dict[str, Any] = {"UpdateRuntimeOn": setting.get("UpdateRuntimeOn", "Auto"),
                               "FunctionArn": f"{arn}:{qualifier}" if qualifier else arn}  # fmt: skip
        if out["UpdateRuntimeOn"] == "Manual":  # Lambda names the runtime version in Manual mode only
            out["RuntimeVersionArn"] = setting["RuntimeVersionArn"]
        return out

    async def get_runtime(self, req: Request) -> Response:
        ref = self._ref(self._checked("GetRuntimeManagementConfig", req, Qualifier=req.query_one("Qualifier")))
        rec, version = self.registry.resolve(ref.name, ref.qualifier)
        config, _ = rec.snapshot(version)
        return Response.json(self._runtime_answer(ref.name, ref.qualifier, config.get("_RuntimeManagement", {})))

    async def put_runtime(self, req: Request) -> Response:
        checked = self._checked("PutRuntimeManagementConfig", req, Qualifier=req.query_one("Qualifier"))
        ref = self._ref(checked)
        mode, runtime_arn = checked["UpdateRuntimeOn"], checked.get("RuntimeVersionArn")
        if mode == "Manual" and not runtime_arn:
            raise InvalidParameterValue("RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
        if mode != "Manual" and runtime_arn:
            raise InvalidParameterValue(
                f"RuntimeVersionArn can be set only when UpdateRuntimeOn is Manual, not {mode}."
            )
        setting = {"UpdateRuntimeOn": mode} | ({"RuntimeVersionArn": runtime_arn} if runtime_arn else {})
        async with self.registry.editing(ref.name) as edit:
            _, version = self.registry.resolve(ref.name, ref.qualifier)
            await edit.set_settings(version, {"_RuntimeManagement": setting})
        return Response.json(self._runtime_answer(ref.name, ref.qualifier, setting))


def _no_signing_config(arn: str) -> CodeSigningConfigNotFound:
    return CodeSigningConfigNotFound(
        f"The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}"
    )


def _present(**members: Any) -> dict[str, Any]:
    return {k: val for k, val in members.items() if val is not None}


def _int(raw: str | None) -> int | str | None:
    return int(raw) if raw is not None and raw.lstrip("-").isdigit() else raw
