"""The control-plane schema. SQLite runs in WAL mode with synchronous=FULL: a change that the API acknowledged
survives `kill -9` and power loss. Bump SCHEMA_VERSION and add a step to `store.db.MIGRATIONS` for any change.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

SCHEMA_VERSION = 9

metadata = MetaData()

#: one row per schema; `version` is the migration level the data dir is at
meta = Table("meta", metadata, Column("version", Integer, nullable=False))

#: one row per function ($LATEST). `config` is the stored FunctionConfiguration (JSON, Lambda field names);
#: `code_sha256` is the hex digest naming the zip in blobs/ and its unpacked tree in code/;
#: `next_version` is the number PublishVersion gives next (numbers are never reused);
#: `reserved_concurrency` is PutFunctionConcurrency's value (NULL: the function shares the unreserved pool).
functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("config", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", Integer, nullable=False),  # epoch ms
    Column("next_version", Integer, nullable=False, default=1),
    Column("reserved_concurrency", Integer, nullable=True),
)

#: published versions: immutable snapshots of a function's code and configuration
versions = Table(
    "versions",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("config", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False),
)

#: aliases: `config` is the AliasConfiguration (FunctionVersion, Description, RoutingConfig, RevisionId)
aliases = Table(
    "aliases",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("config", Text, nullable=False),
)

#: provisioned concurrency configurations, per function and qualifier (a version number or an alias name)
provisioned = Table(
    "provisioned",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("requested", Integer, nullable=False),
    Column("last_modified", String(40), nullable=False),
)

#: layer versions; a deleted version keeps its row (`deleted` = 1) so numbers are never reused and functions that
#: already use it keep working, as on Lambda. `policy` holds the layer version's permission statements (JSON).
layer_versions = Table(
    "layer_versions",
    metadata,
    Column("layer", String(140), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("config", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("policy", Text, nullable=False, default="{}"),
    Column("deleted", Integer, nullable=False, default=0),
)

#: asynchronous invocation configurations (Put/UpdateFunctionEventInvokeConfig), per function and qualifier
#: ("$LATEST", a version number or an alias name); `config` holds the retries, maximum age and destinations (JSON)
event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("config", Text, nullable=False),
    Column("last_modified", Float, nullable=False),
)

#: event source mappings (Create/UpdateEventSourceMapping), one row each; `config` holds the mapping as
#: `sources.mapping_rules.MappingRecord.to_json` writes it (source ARN, function and qualifier, batch settings,
#: filters, Enabled, LastModified)
event_source_mappings = Table(
    "event_source_mappings",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("config", Text, nullable=False),
)

#: resource-based policies (AddPermission): one policy document per function and qualifier ("" for the unqualified
#: function, a version number or an alias name); `policy` is Lambda's policy document (JSON, Version + Statement),
#: `revision_id` changes on every edit (GetPolicy's RevisionId, AddPermission's optimistic lock)
function_policies = Table(
    "function_policies",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("revision_id", String(36), nullable=False),
)

#: function URLs (CreateFunctionUrlConfig), one per function and qualifier ("" for $LATEST, or an alias name);
#: `url_id` is the URL's 32-character id (the first label of its host), `config` its FunctionUrlConfig (JSON: AuthType,
#: Cors, InvokeMode, CreationTime, LastModifiedTime)
function_urls = Table(
    "function_urls",
    metadata,
    Column("function", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("url_id", String(40), nullable=False, unique=True),
    Column("config", Text, nullable=False),
)

#: HTTP APIs (API Gateway v2, ProtocolType HTTP): one row per API; `document` holds the API with its routes,
#: integrations and stages (JSON), written whole on every change so an API is never half-updated
http_apis = Table(
    "http_apis",
    metadata,
    Column("api_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
)

#: EventBridge event buses other than `default` (which always exists and has no row unless it carries a policy or
#: tags); `document` is the bus (JSON: Name, Arn, Description, Policy, Tags, CreationTime)
event_buses = Table(
    "event_buses",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("document", Text, nullable=False),
)

#: EventBridge rules, with their targets, one JSON document each (EventPattern or ScheduleExpression, State, targets
#: with Input/InputPath/InputTransformer, RetryPolicy, DeadLetterConfig)
event_rules = Table(
    "event_rules",
    metadata,
    Column("bus", String(256), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("document", Text, nullable=False),
)

#: SNS topics (JSON: attributes, tags) and their subscriptions (JSON: protocol, endpoint, attributes, confirmation)
topics = Table(
    "topics",
    metadata,
    Column("arn", String(300), primary_key=True),
    Column("document", Text, nullable=False),
)
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("arn", String(400), primary_key=True),
    Column("topic_arn", String(300), nullable=False, index=True),
    Column("document", Text, nullable=False),
)

#: EventBridge Scheduler: schedule groups (the `default` group always exists) and schedules (JSON documents)
schedule_groups = Table(
    "schedule_groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("document", Text, nullable=False),
)
schedules = Table(
    "schedules",
    metadata,
    Column("group_name", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("document", Text, nullable=False),
)

#: when each schedule (a rule's ScheduleExpression: "rule:<bus>/<name>"; a Scheduler schedule:
#: "schedule:<group>/<name>") last fired, in epoch ms, written when a fire is recorded: what a restart catches up from
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("last_fire_ms", Integer, nullable=False),
)


# ---- identities (issue 15): roles, managed policies, users, access keys -- new tables go here ----

#: IAM roles (names unique regardless of case, as IAM's): the trust policy and tags as JSON
iam_roles = Table(
    "iam_roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("max_session_s", Integer, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created", Float, nullable=False),
)
#: IAM users (tags as JSON)
iam_users = Table(
    "iam_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("tags", Text, nullable=False),
    Column("created", Float, nullable=False),
)
#: inline policies of roles and users (`kind`: "role" | "user"), the document as the caller sent it
iam_inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)
#: customer managed policies (AWS's are built in, never stored) and their versions (`is_default`: the one in force)
iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", String(700), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("policy_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("next_version", Integer, nullable=False),
)
iam_policy_versions = Table(
    "iam_policy_versions",
    metadata,
    Column("policy_arn", String(700), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("is_default", Integer, nullable=False),
    Column("created", Float, nullable=False),
)
#: managed policies (AWS's or the account's) attached to roles and users
iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Column("policy_arn", String(700), primary_key=True),
)
#: users' access keys: the secret encrypted (AES-GCM under the data dir's identity.key, the key id as associated
#: data), never stored in plaintext; `status` Active | Inactive
iam_access_keys = Table(
    "iam_access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("secret", Text, nullable=False),
    Column("status", String(8), nullable=False),
    Column("created", Float, nullable=False),
)


# ---- stacks (issue 16): stacks, their resources and events -- new tables go here ----

#: stacks (`deploy/state.py`): one JSON document each (id, status and reason, the last applied template and
#: parameters, the template being applied, outputs), written before and after every step of a deploy
stacks = Table(
    "stacks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)
#: a stack's resources: per logical id, its current record, the record it had before the deploy in progress (what
#: a rollback restores), the action in flight, and a replaced record still to delete
stack_resources = Table(
    "stack_resources",
    metadata,
    Column("stack", String(128), primary_key=True),
    Column("logical_id", String(255), primary_key=True),
    Column("document", Text, nullable=False),
)
#: a stack's events, oldest first (`seq` orders them and is what `events --after` pages by)
stack_events = Table(
    "stack_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("stack", String(128), nullable=False, index=True),
    Column("document", Text, nullable=False),
)


# ---- console time series (issue 20): per-function per-minute aggregates -- new tables go here ----

#: one function's figures for one minute (`console.timeseries`): counts, the peak concurrency, and a digest of handler
#: durations as JSON {bucket: count} (bucket b holds durations in [R^b, R^(b+1)) ms); rows older than the retention
#: are deleted by the time series' writer
function_minutes = Table(
    "function_minutes",
    metadata,
    Column("function", String(170), primary_key=True),
    #: epoch seconds // 60 (indexed: the functions list reads every function's last hour)
    Column("minute", Integer, primary_key=True, index=True),
    Column("invocations", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("throttles", Integer, nullable=False),
    Column("cold_starts", Integer, nullable=False),
    Column("max_concurrency", Integer, nullable=False),
    Column("durations", Text, nullable=False),
)

#: the console's saved test events of a function (`console.test_events`), kept until deleted: a JSON payload by name
test_events = Table(
    "test_events",
    metadata,
    Column("function", String(170), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("modified_ms", Integer, nullable=False),
)
