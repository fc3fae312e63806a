"""RunPod REST API v2 (`/v2/...`) served from the same world as the GraphQL API.

Why: GraphQL retires in early 2027; clients (ours, dstack 0.22.5, SkyPilot's v2 branch) already
speak v2. Pods created over one API are visible and manageable over the other and billing is
shared, because both read and change the one `World`. The subset served, its fields and status
codes are declared in `scheduler/emulator/openapi-v2.json`, written from
`runpod-rest-v2.md`; answers are checked against it by the tests.

Modules: `app` (auth, limits, routing, faults), `validate` (schemas, 422 texts), `problems`
(RFC 9457 bodies and texts), `limits`, `paging`, `state`, `context`, and one module per area:
`pods`, `catalog`, `account` (volumes, templates, SSH keys), `registries`, `billing`.

Not served: CPU pods and the CPU catalogue, logs (SSE), clusters, serverless, ECR delegations,
secrets, tags, sandboxes, `/v2/catalog/templates`, serverless/endpoint/cluster billing; spot does
not exist in v2.
"""

from scheduler.emulator.rest.app import handle_rest
from scheduler.emulator.rest.limits import RateLimits
from scheduler.emulator.rest.state import RestConfig, RestState

__all__ = ["RateLimits", "RestConfig", "RestState", "handle_rest"]
